"""`make bench`: run every scripts/bench_*.py; each writes results/bench/<name>.json.

Usage: python scripts/bench.py [name ...]   (default: all benchmarks)
"""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
wanted = sys.argv[1:]
scripts = sorted(p for p in here.glob("bench_*.py") if not wanted or p.stem[6:] in wanted)
failed = [s.name for s in scripts if subprocess.run([sys.executable, str(s)]).returncode != 0]
if failed:
    sys.exit(f"benchmarks failed: {', '.join(failed)}")
