"""BCM-U's simulator settings and design, validated without JAX (read before JAX starts)."""

from __future__ import annotations

from dataclasses import dataclass

from vi_od.errors import require
from vi_od.models.pooled_settings import check_eps, check_mu, check_rule, check_size, read_settings

EPS_PLUS_GRID = (0.05, 0.15, 0.25, 0.35, 0.45)  # the journal's design
EPS_MINUS_GRID = (0.55, 0.65, 0.75, 0.85, 0.95)
MU_GRID = tuple(round(0.01 + 0.02 * k, 2) for k in range(10))  # 0.01 .. 0.19


@dataclass(frozen=True)
class Settings:
    """conf/model/bcm-backfire.yaml. Unset values are drawn per experiment from the seed, as
    the journal's design draws them: eps from its grids, mu+ and mu- from 0.01..0.19, b fair."""

    N: int
    T: int
    edges_per_step: int = 10
    mu_plus: float | None = None
    mu_minus: float | None = None
    backfire: int | None = None
    eps: tuple[float, float] | None = None
    rho: float = 32.0
    deterministic: bool = False

    def validate(self) -> Settings:
        check_size(self)
        check_mu(self, 0.5, nullable=True)
        require(self.backfire in (None, 0, 1), "simulator.backfire", self.backfire, "null, 0 or 1")
        if self.eps is not None:
            check_eps(self.eps, "simulator.eps")
        check_rule(self)
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict)."""
    return read_settings(Settings, values)


def check_truth(truth, where: str) -> None:
    """The true [eps+, eps-, b] of a data file (no JAX: checked on reading)."""
    require(len(truth) == 3 and truth[2] in (0, 1), where, list(truth), "[eps+, eps-, b]")
    check_eps(truth[:2], where)
