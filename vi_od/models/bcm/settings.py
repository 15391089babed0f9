"""The one-role BCM's simulator settings, validated without JAX (read before JAX starts)."""

from __future__ import annotations

from dataclasses import dataclass

from vi_od.errors import ViOdError, as_number, require
from vi_od.models.pooled_settings import as_pair, check_eps

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
        require(self.N >= 2, "N", self.N, "an integer >= 2")
        require(self.T >= 2, "T", self.T, "an integer >= 2")
        require(self.edges_per_step >= 1, "simulator.edges_per_step", self.edges_per_step, ">= 1")
        for key in ("mu_plus", "mu_minus"):
            mu = getattr(self, key)
            require(0 <= mu <= 1, f"simulator.{key}", mu, "in [0, 1]")
        require(self.rho > 0, "simulator.rho", self.rho, "> 0")
        if self.eps is not None:
            check_eps(self.eps, "simulator.eps")
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict)."""
    sim = dict(values["simulator"])
    eps = sim.pop("eps", None)
    if eps is not None and not isinstance(eps, list):
        raise ViOdError(f"simulator.eps={eps} is not allowed: must be a list of 2 numbers or null")
    fields = {
        "N": as_number(int, "N", values["N"]),
        "T": as_number(int, "T", values["T"]),
        "edges_per_step": as_number(
            int, "simulator.edges_per_step", sim.pop("edges_per_step", None)
        ),
        "mu_plus": as_number(float, "simulator.mu_plus", sim.pop("mu_plus", None)),
        "mu_minus": as_number(float, "simulator.mu_minus", sim.pop("mu_minus", None)),
        "rho": as_number(float, "simulator.rho", sim.pop("rho", None)),
        "eps": None if eps is None else tuple(as_number(float, "simulator.eps", e) for e in eps),
    }
    if sim:
        raise ViOdError(f"unknown config key 'simulator.{sorted(sim)[0]}'")
    return Settings(**fields).validate()


def check_truth(eps, where: str) -> None:
    """The true [eps+, eps-] of a data file (no JAX: checked on reading)."""
    check_eps(list(eps), where)
