"""The one-role BCM's simulator settings, validated without JAX (read before JAX starts)."""

from __future__ import annotations

from dataclasses import dataclass

from vi_od.errors import require
from vi_od.models.pooled_settings import as_pair, check_eps, check_mu, check_size, read_settings

EPS_PLUS_GRID = (0.05, 0.15, 0.25, 0.35, 0.45)  # the paper's grids (bcm_roles)
EPS_MINUS_GRID = (0.55, 0.65, 0.75, 0.85, 0.95)


@dataclass(frozen=True)
class Settings:
    """conf/model/bcm.yaml: the paper's dynamics with every agent a follower."""

    N: int
    T: int
    edges_per_step: int = 10
    mu_plus: float = 0.02
    mu_minus: float = 0.02
    rho: float = 32.0
    eps: tuple[float, float] | None = None  # [eps+, eps-]; None: drawn from the paper's grids

    @property
    def mu_pair(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """mu+ and mu- as the trace format's [F, L] pairs."""
        return as_pair(self.mu_plus), as_pair(self.mu_minus)

    def validate(self) -> Settings:
        check_size(self)
        check_mu(self, 1)
        require(self.rho > 0, "simulator.rho", self.rho, "> 0")
        if self.eps is not None:
            check_eps(self.eps, "simulator.eps")
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict)."""
    return read_settings(Settings, values)


def check_truth(eps, where: str) -> None:
    """The true [eps+, eps-] of a data file (no JAX: checked on reading)."""
    check_eps(list(eps), where)
