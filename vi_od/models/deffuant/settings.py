"""Deffuant's simulator settings, validated without JAX (the CLI reads them before JAX starts)."""

from __future__ import annotations

from dataclasses import dataclass

from vi_od.errors import require
from vi_od.models.pooled_settings import as_pair, check_size, read_settings


@dataclass(frozen=True)
class Settings:
    """conf/model/deffuant.yaml: population, horizon and dynamics."""

    N: int
    T: int
    edges_per_step: int = 10
    mu: float = 0.1
    rho: float = 16.0
    eps: float | None = None  # None: drawn from U(0, 1/2) by the seed
    deterministic: bool = False  # s = [|d| < eps] instead of the sigmoid

    @property
    def mu_plus(self) -> tuple[float, float]:
        return as_pair(self.mu)

    @property
    def mu_minus(self) -> tuple[float, float]:
        return (0.0, 0.0)

    def validate(self) -> Settings:
        check_size(self)
        require(0 <= self.mu <= 0.5, "simulator.mu", self.mu, "in [0, 0.5]")
        require(self.rho > 0, "simulator.rho", self.rho, "> 0")
        eps = self.eps
        require(eps is None or 0 <= eps <= 0.5, "simulator.eps", eps, "null or in [0, 0.5]")
        require(isinstance(self.deterministic, bool), "simulator.deterministic",
                self.deterministic, "true or false")  # fmt: skip
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict)."""
    return read_settings(Settings, values)


def check_truth(eps, where: str) -> None:
    """The true [eps] of a data file (no JAX: checked on reading)."""
    require(len(eps) == 1 and 0 <= eps[0] <= 0.5, where, list(eps), "[eps] with eps in [0, 0.5]")
