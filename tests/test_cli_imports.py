"""`vi-od --help` and errors in the input answer without importing JAX (docs/performance.md).

Each case runs the CLI in a fresh process and reports whether `jax` was imported; the
timings (<= 0.5 s) are measured by scripts/bench_fast_start.py, not here.
"""

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
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
        ["inspect", "{tmp}/bad_truth.parquet"],  # the log's model checks its truth
    ],
)
def test_help_and_bad_input_do_not_import_jax(args, tmp_path):
    (tmp_path / "not_a_trace.npz").write_text("not a trace")
    (tmp_path / "trace.npz").write_text("never read: the key is wrong")
    log = pa.table({"time": [0], "sender": [0], "receiver": [1], "sender_opinion": [0.1],
                    "receiver_opinion": [0.2], "positive": [1], "negative": [0]})  # fmt: skip
    meta = json.dumps({"eps": [0.7, 0.1, 0.6, 0.9]})  # eps+ > 0.5: refused by bcm-roles
    pq.write_table(log.replace_schema_metadata({b"vi_od": meta}), tmp_path / "bad_truth.parquet")
    (code, imported), stderr = _run(*(a.format(tmp=tmp_path) for a in args))
    assert code == ("0" if "--help" in args else "2"), stderr
    assert imported == "False", f"vi-od {' '.join(args)} imported JAX"
