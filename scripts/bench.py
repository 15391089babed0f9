"""`make bench`: run every scripts/bench_*.py; each writes results/bench/<name>.json.

Usage: python scripts/bench.py [name ...]   (default: all benchmarks; e.g. `scale`)

`scale` (bench_scale.py: event logs up to 10^7 interactions, every point a fresh process,
docs/figures/scale.png) is the longest: about half an hour on 2 CPU cores.
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
