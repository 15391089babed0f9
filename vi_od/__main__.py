"""`vi-od` and `python -m vi_od`: the CLI, in a process whose string hashes are fixed.

numpyro sums the ELBO's sites in the order of a Python set, which follows the process's
hash seed: the same fit lowered to one of six programs, so the next process often missed
the persistent compilation cache and compiled again (the numbers were the same). With
PYTHONHASHSEED fixed, every process builds the same program. Costs one bare interpreter
start (~20 ms) when the variable is unset.
"""

import os
import sys


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") is None:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "vi_od", *sys.argv[1:]])
    from vi_od.cli import app

    app(prog_name="vi-od")


if __name__ == "__main__":
    main()
