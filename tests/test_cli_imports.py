"""`vi-od --help` and errors in the input answer without importing JAX, and the common bad
inputs without Hydra or numpy either (docs/performance.md).

Each case runs the CLI in a fresh process and reports which of the heavy modules were
imported; the timings (<= 0.5 s) are measured by scripts/bench_fast_start.py, not here.
"""

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HEAVY = ("jax", "hydra", "numpy")
PROBE = f"""
import sys
from vi_od.cli import app
try:
    app(sys.argv[1:], prog_name="vi-od")
except SystemExit as exc:
    print("exit", exc.code, *(m for m in {HEAVY!r} if m in sys.modules))
"""


def _run(*args: str) -> tuple[str, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    line = done.stdout.splitlines()[-1].split()
    return line[1], set(line[2:]), done.stderr


@pytest.fixture
def files(tmp_path):
    """A folder with a text file posing as a trace, a folder named like one and a fit record."""
    (tmp_path / "not_a_trace.npz").write_text("not a trace")
    (tmp_path / "trace.npz").write_text("never read: the key is wrong")
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "fit.json").write_text(json.dumps({"model": "bcm-roles"}))
    log = pa.table({"time": [0], "sender": [0], "receiver": [1], "sender_opinion": [0.1],
                    "receiver_opinion": [0.2], "positive": [1], "negative": [0]})  # fmt: skip
    meta = json.dumps({"eps": [0.7, 0.1, 0.6, 0.9]})  # eps+ > 0.5: refused by bcm-roles
    pq.write_table(log.replace_schema_metadata({b"vi_od": meta}), tmp_path / "bad_truth.parquet")
    return tmp_path


# every case answers without JAX; those marked LIGHT without Hydra and numpy too
LIGHT = [
    ["--help"],
    ["fit", "--help"],
    ["fit", "{tmp}/missing.npz"],
    ["fit", "{tmp}/missing.npz", "--method", "svi-normal"],
    ["fit", "{tmp}/folder.npz"],
    ["fit", "{tmp}/data.txt"],
    ["fit", "{tmp}/missing.csv"],
    ["fit", "{tmp}/not_a_trace.npz", "--method", "svi-normal"],
    ["fit", "{tmp}/trace.npz", "no_such_key=1"],
    ["fit", "{tmp}/trace.npz", "method.stepz=3", "--method", "svi-normal"],
    ["fit", "{tmp}/trace.npz", "N=abc"],
    ["fit", "{tmp}/trace.npz", "--method", "nope"],
    ["simulate", "N=abc", "--out", "{tmp}/x.npz"],
    ["simulate", "method.stepz=3", "--out", "{tmp}/x.npz"],
    ["simulate", "--out", "{tmp}/x.txt"],
    ["simulate", "--out", "{tmp}/folder.npz"],
    ["check", "{tmp}/missing.npz", "{tmp}/fit.json"],
    ["check", "{tmp}/folder.npz", "{tmp}/fit.json"],
    ["check", "{tmp}/data.txt", "{tmp}/fit.json"],
    ["check", "{tmp}/not_a_trace.npz", "{tmp}/fit.json"],
    ["inspect", "{tmp}/missing.csv"],
    ["inspect", "{tmp}/folder.npz"],
]
JAX_FREE = [
    ["fit", "{tmp}/not_a_trace.npz", "simulator.mu_plus=[0.1,0.1]"],  # a list: Hydra composes
    ["check", "{tmp}/trace.npz", "{tmp}/missing.json"],
    ["check", "{tmp}/trace.npz", "{tmp}/fit.json"],  # no parameter means: numpy reads it
    ["inspect", "{tmp}/bad_truth.parquet"],  # the log's model checks its truth
]


@pytest.mark.parametrize("args", LIGHT + JAX_FREE, ids=" ".join)
def test_help_and_bad_input_do_not_import_jax(args, files):
    code, imported, stderr = _run(*(a.format(tmp=files) for a in args))
    assert code == ("0" if "--help" in args else "2"), stderr
    assert stderr.count("\n") <= 1 and "Traceback" not in stderr
    assert "jax" not in imported, f"vi-od {' '.join(args)} imported JAX"
    if args in LIGHT:
        assert not imported, f"vi-od {' '.join(args)} imported {', '.join(sorted(imported))}"
