"""`vi-od --help` and errors in the input answer without importing JAX (docs/performance.md).

Each case runs the CLI in a fresh process and reports whether `jax` was imported; the
timings (<= 0.5 s) are measured by scripts/bench_fast_start.py, not here.
"""

import subprocess
import sys

import pytest

PROBE = """
import sys
from vi_od.cli import app
try:
    app(sys.argv[1:], prog_name="vi-od")
except SystemExit as exc:
    print("exit", exc.code, "jax" in sys.modules)
"""


def _run(*args: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    return done.stdout.split()[-2:], done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["fit", "--help"],
        ["fit", "{tmp}/missing.npz"],
        ["fit", "{tmp}/trace.npz", "no_such_key=1"],
        ["fit", "{tmp}/not_a_trace.npz", "--method", "svi-normal"],
        ["check", "{tmp}/missing.npz", "{tmp}/fit.json"],
        ["simulate", "N=abc", "--out", "{tmp}/x.npz"],
        ["inspect", "{tmp}/missing.csv"],
    ],
)
def test_help_and_bad_input_do_not_import_jax(args, tmp_path):
    (tmp_path / "not_a_trace.npz").write_text("not a trace")
    (tmp_path / "trace.npz").write_text("never read: the key is wrong")
    (code, imported), stderr = _run(*(a.format(tmp=tmp_path) for a in args))
    assert code == ("0" if "--help" in args else "2"), stderr
    assert imported == "False", f"vi-od {' '.join(args)} imported JAX"
