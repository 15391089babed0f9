"""Readers of observed data: each input format becomes one Observations table.

`.npz` is a dense trace (vi_od.data.trace); `.parquet`, `.csv` and `.csv.gz` are event logs
(vi_od.data.eventlog). The readers are imported on use: the trace reader must stay light
for the sweep's workers, which never read event logs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError

FORMATS = ".npz (trace), .parquet, .csv or .csv.gz (event log)"


def load_observations(
    path: str | os.PathLike,
    opinions: str | os.PathLike | None = None,
    *,
    rho: float = 32.0,
    mu_plus: Sequence[float] = (0.02, 0.02),
    mu_minus: Sequence[float] = (0.02, 0.02),
    timezone: str | None = None,
    clip_opinions: float | None = None,
    columns=None,
) -> Observations:
    """Read a trace or an event log by its suffix; rho and mu fill what an event log lacks.

    `opinions` is the opinions table of an event log in the as-of form; `timezone` is how
    to read its naive timestamps (without it, naive beside zoned times is an error);
    `clip_opinions` how far outside [0, 1] an opinion may be to be clipped (float noise);
    `columns` (vi_od.data.columns.Columns) the model's own columns, read and checked.
    """
    path = Path(path)
    if path.name.lower().endswith(".npz"):
        if opinions is not None:
            raise ViOdError(f"{path}: an opinions table goes with an event log, not a .npz trace")
        from vi_od.data import trace

        obs = trace.to_observations(trace.load(path, clip_opinions))
        if columns is not None:
            columns.check(obs, str(path))
        return obs
    from vi_od.data import eventlog

    if eventlog.table_suffix(path) is None:
        raise ViOdError(f"{path}: unknown data format (expected {FORMATS})")
    mu = {"mu_plus": mu_plus, "mu_minus": mu_minus}
    obs = eventlog.read(
        path, opinions, rho=rho, **mu, timezone=timezone, clip_opinions=clip_opinions,
        columns=columns,
    )  # fmt: skip
    if columns is not None:
        columns.check(obs, str(path))
    return obs
