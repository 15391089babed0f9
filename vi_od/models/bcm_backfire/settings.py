"""BCM-U's simulator settings and design, validated without JAX (read before JAX starts)."""

from __future__ import annotations

from dataclasses import dataclass

from vi_od.errors import ViOdError, as_number, require
from vi_od.models.pooled_settings import check_eps

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
        require(self.N >= 2, "N", self.N, "an integer >= 2")
        require(self.T >= 2, "T", self.T, "an integer >= 2")
        require(self.edges_per_step >= 1, "simulator.edges_per_step", self.edges_per_step, ">= 1")
        for key in ("mu_plus", "mu_minus"):
            mu = getattr(self, key)
            require(mu is None or 0 <= mu <= 0.5, f"simulator.{key}", mu, "null or in [0, 0.5]")
        require(self.backfire in (None, 0, 1), "simulator.backfire", self.backfire, "null, 0 or 1")
        if self.eps is not None:
            check_eps(self.eps, "simulator.eps")
        require(self.rho > 0, "simulator.rho", self.rho, "> 0")
        require(isinstance(self.deterministic, bool), "simulator.deterministic",
                self.deterministic, "true or false")  # fmt: skip
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict)."""
    sim = dict(values["simulator"])
    number = lambda key, kind=float: None if sim.get(key) is None else as_number(
        kind, f"simulator.{key}", sim[key])  # fmt: skip
    eps = sim.pop("eps", None)
    if eps is not None and not isinstance(eps, list):  # "abc" would be read letter by letter
        raise ViOdError(f"simulator.eps={eps} is not allowed: must be a list of 2 numbers or null")
    fields = {
        "N": as_number(int, "N", values["N"]),
        "T": as_number(int, "T", values["T"]),
        "edges_per_step": as_number(int, "simulator.edges_per_step", sim.get("edges_per_step")),
        "mu_plus": number("mu_plus"),
        "mu_minus": number("mu_minus"),
        "backfire": number("backfire", int),
        "eps": None if eps is None else tuple(as_number(float, "simulator.eps", e) for e in eps),
        "rho": as_number(float, "simulator.rho", sim.get("rho")),
        "deterministic": sim.get("deterministic"),
    }
    unknown = set(sim) - set(fields) - {"eps"}
    if unknown:
        raise ViOdError(f"unknown config key 'simulator.{sorted(unknown)[0]}'")
    return Settings(**fields).validate()


def check_truth(truth, where: str) -> None:
    """The true [eps+, eps-, b] of a data file (no JAX: checked on reading)."""
    require(len(truth) == 3 and truth[2] in (0, 1), where, list(truth), "[eps+, eps-, b]")
    check_eps(truth[:2], where)
