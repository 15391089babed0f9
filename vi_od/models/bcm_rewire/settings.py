"""BCM-G's simulator settings, design and event columns, without JAX (read before JAX starts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vi_od.data.columns import Columns
from vi_od.errors import ViOdError, require
from vi_od.models.pooled_settings import check_eps, check_mu, check_rule, check_size, read_settings

EPS_PLUS_GRID = (0.05, 0.15, 0.25, 0.35, 0.45)  # the journal's design
EPS_MINUS_GRID = (0.55, 0.65, 0.75, 0.85, 0.95)
BETA_GRID = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))  # 0.05 .. 0.95
RHO_CUT = 4.0  # steepness of the cut's sigmoid, sigmoid(4 (|d| - beta)): the journal's rho_lr
REWIRE, CUT = "rewire", "cut"  # Observations.extra: 1 = a rewiring event; 1 = it cut the edge


@dataclass(frozen=True)
class Settings:
    """conf/model/bcm-rewire.yaml. Unset values are drawn per experiment from the seed, as the
    journal's design draws them: eps and beta from its grids."""

    N: int
    T: int
    edges_per_step: int = 10
    q: float = 0.5
    graph_p: float = 0.1
    eps: tuple[float, float] | None = None
    beta: float | None = None
    mu_plus: float = 0.02
    mu_minus: float = 0.02
    rho: float = 32.0
    deterministic: bool = False

    def validate(self) -> Settings:
        check_size(self, min_agents=3)
        require(0 <= self.q <= 1, "simulator.q", self.q, "in [0, 1]")
        require(0 < self.graph_p <= 1, "simulator.graph_p", self.graph_p, "in (0, 1]")
        check_mu(self, 0.5)
        if self.eps is not None:
            check_eps(self.eps, "simulator.eps")
        ok = self.beta is None or 0 <= self.beta <= 1
        require(ok, "simulator.beta", self.beta, "null or in [0, 1]")
        check_rule(self)
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict); a null key keeps its default."""
    return read_settings(Settings, values, null_is_default=True)


# --- an event's kind and outcome as columns: a log's rewire and cut, a trace's extra_* --------


def log_columns(names: list[str], where: str) -> dict[str, str]:
    """`rewire` (1 = a rewiring event, 0 = an opinion update) and `cut` (1 = the edge was cut)."""
    missing = [c for c in (REWIRE, CUT) if c not in names]
    if missing:
        raise ViOdError(
            f"{where}: missing column(s) {', '.join(repr(c) for c in missing)} (model bcm-rewire "
            "reads each event's kind, rewire: 1 = rewiring, 0 = opinion update, and its outcome, "
            "cut: 1 = the edge was cut)"
        )
    return {REWIRE: "flag", CUT: "flag"}


def _consistent(rewire, cut, s_plus, s_minus, where: str, row_of=lambda i: i + 1) -> None:
    """Only a rewiring event cuts; only an opinion update has s+ or s-."""
    bad = (cut == 1) & (rewire == 0)
    if bad.any():
        row = row_of(int(np.flatnonzero(bad)[0]))
        raise ViOdError(f"{where}: column 'cut', row {row}: an opinion update (rewire = 0) "
                        "cannot cut an edge")  # fmt: skip
    bad = ((s_plus == 1) | (s_minus == 1)) & (rewire == 1)
    if bad.any():
        row = row_of(int(np.flatnonzero(bad)[0]))
        raise ViOdError(f"{where}: column 'rewire', row {row}: a rewiring event has no opinion "
                        "outcome (positive and negative must be 0)")  # fmt: skip


def from_log(columns: dict, where: str) -> dict:
    """The two flags, in file order (their consistency with s+ / s- is `check`'s)."""
    zero = np.zeros_like(columns[CUT])
    _consistent(columns[REWIRE], columns[CUT], zero, zero, where)
    return {REWIRE: columns[REWIRE].astype(np.int8), CUT: columns[CUT].astype(np.int8)}


def check(obs, where: str) -> None:
    """Each event's kind and outcome: present, 0/1, and consistent with s+ / s-."""
    if REWIRE not in obs.extra or CUT not in obs.extra:
        raise ViOdError(
            f"{where}: model bcm-rewire needs each event's kind and outcome: a trace's "
            "'extra_rewire' and 'extra_cut' (T-1, E) or an event log's rewire and cut columns"
        )
    for name in (REWIRE, CUT):
        a = obs.extra[name]
        if a.shape != (obs.M,) or not np.isin(a, (0, 1)).all():
            raise ViOdError(f"{where}: '{name}' must be one 0/1 per interaction")
    _consistent(obs.extra[REWIRE], obs.extra[CUT], obs.s_plus, obs.s_minus, where,
                lambda i: f"{i + 1} in time order")  # fmt: skip


def to_log(trace) -> dict:
    """A trace's event kinds and outcomes as event-log columns."""
    return {REWIRE: trace.extra[REWIRE].ravel().astype(np.int8),
            CUT: trace.extra[CUT].ravel().astype(np.int8)}  # fmt: skip


COLUMNS = Columns(log_columns=log_columns, from_log=from_log, check=check, to_log=to_log)


def check_truth(truth, where: str) -> None:
    """The true [eps+, eps-, beta] of a data file (no JAX: checked on reading)."""
    require(len(truth) == 3 and 0 <= truth[2] <= 1, where, list(truth),
            "[eps+, eps-, beta] with beta in [0, 1]")  # fmt: skip
    check_eps(truth[:2], where)
