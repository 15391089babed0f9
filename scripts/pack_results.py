"""Pack one or more results folders into one compact Parquet file (rows sorted by job id).

    python scripts/pack_results.py OUT.parquet FOLDER [FOLDER ...]

The folders' model columns are unified (vi_od.experiments.results); a job present in two
folders keeps its row from the first. Used for the committed tables under docs/results/.
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.parquet as pq

from vi_od.atomic import atomic_write
from vi_od.experiments import results


def main(out: str, folders: list[str]) -> None:
    tables = [results.load_table(f) for f in folders]
    table = pa.concat_tables(tables, promote_options="default")
    seen, keep = set(), []
    for i, job in enumerate(table["job_id"].to_pylist()):
        if job not in seen:
            seen.add(job)
            keep.append(i)
    table = table.take(keep).sort_by("job_id")
    atomic_write(out, lambda tmp: pq.write_table(table, tmp, compression="zstd",
                                                 compression_level=19))  # fmt: skip
    print(f"{table.num_rows} rows from {len(folders)} folder(s) -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
