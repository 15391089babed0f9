"""`vi-od` and `python -m vi_od`: the CLI, in a process whose string hashes are fixed.

numpyro sums the ELBO's sites in the order of a Python set, which follows the process's
hash seed: the same fit lowered to one of six programs, so the next process often missed
the persistent compilation cache and compiled again (the numbers were the same). With
PYTHONHASHSEED fixed, every process builds the same program. Costs one bare interpreter
start (~20 ms) when the variable is unset.

When the command is done the process leaves without the interpreter's teardown, which
after a fit (JAX's tracing caches, the XLA client, every module's objects) took about a
second of nothing: see `leave`.
"""

import os
import sys


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") is None:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "vi_od", *sys.argv[1:]])
    from vi_od.cli import app

    try:
        app(prog_name="vi-od")
    except SystemExit as exc:
        leave(exc.code)


def leave(code) -> None:
    """Exit with `code` as `sys.exit` would, skipping the interpreter's finalization.

    Exit handlers still run (logging, weakref finalizers, JAX's own clean-up) and the
    standard streams are flushed; what is skipped is freeing every object one by one. Only
    when the main thread is alone and no child process runs (a sweep's workers, a dask
    cluster): otherwise the ordinary exit waits for them as it should.
    """
    import threading

    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if threading.active_count() > 1 or children:
        raise SystemExit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # sys.exit("message"): the message, status 1
        code = 1
    import atexit

    atexit._run_exitfuncs()  # what the interpreter runs first on exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
