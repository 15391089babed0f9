"""A fit record read back for `vi-od check`: refused unless it is a fit of these data.

The record is JSON a user may have edited or mixed up: every field the check reads is
checked for type and range, and its agents must be the data's agents, id by id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vi_od.errors import ViOdError


def _numbers(value, what: str, where: Path) -> np.ndarray:
    """A JSON list (or number) as finite floats in [0, 1], or a one-line error."""
    try:
        x = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ViOdError(f"{where}: '{what}' must hold numbers") from None
    if isinstance(value, bool) or x.dtype == object or np.asarray(value).dtype.kind in "bUSO":
        raise ViOdError(f"{where}: '{what}' must hold numbers")
    if not np.isfinite(x).all():
        raise ViOdError(f"{where}: '{what}' holds NaN or infinite values")
    if ((x < 0) | (x > 1)).any():
        raise ViOdError(f"{where}: '{what}' holds {x[(x < 0) | (x > 1)].flat[0]:g}, outside [0, 1]")
    return x


def check_record(record: dict, agent_ids: np.ndarray, where: Path) -> None:
    """Refuse a record with non-numbers, NaN or out-of-range values, or another data's agents."""
    eps_mean = record.get("eps_mean")
    if not isinstance(eps_mean, dict) or not eps_mean:
        raise ViOdError(f"{where}: 'eps_mean' must map each parameter to a number")
    _numbers(list(eps_mean.values()), "eps_mean", where)
    draws = record.get("draws")
    if isinstance(draws, dict) and "eps" in draws:
        _numbers(draws["eps"], "draws.eps", where)
    p_leader = _numbers(record.get("p_leader", []), "p_leader", where)
    if "leader_proportion" in record:
        _numbers(record["leader_proportion"], "leader_proportion", where)
    if p_leader.size != agent_ids.size:
        raise ViOdError(
            f"{where}: the fit is of {p_leader.size} agents but the data have "
            f"{agent_ids.size}: not a fit of these data"
        )
    ids = record.get("agent_ids")  # records of older versions have only the count
    ours = [str(a) for a in np.asarray(agent_ids).tolist()]
    theirs = [str(a) for a in ids] if isinstance(ids, list) else ours if ids is None else []
    if theirs != ours:
        first = next((a for a, b in zip(theirs, ours) if a != b), "?")
        raise ViOdError(
            f"{where}: the fit's agents are not the data's (the fit has agent {first!r} where "
            "the data have another): not a fit of these data"
        )
