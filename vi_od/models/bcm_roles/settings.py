"""What `vi-od simulate` needs, validated without JAX (the CLI reads it before JAX starts)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vi_od.errors import ViOdError, as_number
from vi_od.errors import require as _require
from vi_od.models.bcm_roles import EPS_NAMES, validate_eps
from vi_od.models.pooled_settings import check_size

TRUTH_NAMES = EPS_NAMES  # a data file's eps; its logs predate naming them (no JAX: read first)


@dataclass(frozen=True)
class SimulatorSettings:
    """What `vi-od simulate` needs: the population, the horizon and the dynamics."""

    N: int
    T: int
    leader_proportion: float
    edges_per_step: int = 10
    mu_plus: tuple[float, float] = (0.02, 0.02)
    mu_minus: tuple[float, float] = (0.02, 0.02)
    rho: float = 32.0
    eps: tuple[float, float, float, float] | None = None
    deterministic: bool = False  # the hard rule s+ = [|d| < eps+], s- = [|d| > eps-]

    @property
    def n_leaders(self) -> int:
        return round(self.N * self.leader_proportion)

    def identity(self) -> dict:
        """The fields that name a sweep job: the hard rule only when chosen, so that the
        paper grid's job ids (from before it existed) stay those of its committed runs."""
        fields = dataclasses.asdict(self)
        if not self.deterministic:
            del fields["deterministic"]
        return fields

    @property
    def dynamics_rho(self) -> float:
        """The steepness the simulation draws with: rho, or infinity for the hard rule."""
        return float("inf") if self.deterministic else self.rho

    def validate(self) -> SimulatorSettings:
        """Raise ViOdError naming the first bad key and what it may be."""
        check_size(self)
        p = self.leader_proportion
        _require(0 < p < 1, "leader_proportion", p, "in (0, 1)")
        _require(
            self.n_leaders >= 1,
            "leader_proportion",
            p,
            f"such that round(N * p) >= 1 (N={self.N} gives {self.n_leaders} leaders)",
        )
        for name in ("mu_plus", "mu_minus"):
            mu = getattr(self, name)
            _require(
                len(mu) == 2 and all(0 <= m <= 1 for m in mu),
                f"simulator.{name}",
                list(mu),
                "two numbers [F, L] in [0, 1]",
            )
        _require(self.rho > 0, "simulator.rho", self.rho, "> 0")
        if self.eps is not None:
            validate_eps(self.eps, "simulator.eps")
        return self


def settings_from_config(values: dict) -> SimulatorSettings:
    """The validated simulator settings of a composed config (plain dict): N, T,
    leader_proportion and the `simulator` node of conf/model/bcm-roles.yaml."""
    sim = dict(values["simulator"])
    eps = sim.pop("eps", None)
    if eps is not None and not isinstance(eps, list):  # "abc" would be read letter by letter
        raise ViOdError(f"simulator.eps={eps} is not allowed: must be a list of 4 numbers or null")
    fields = {
        "N": as_number(int, "N", values["N"]),
        "T": as_number(int, "T", values["T"]),
        "leader_proportion": as_number(float, "leader_proportion", values["leader_proportion"]),
        "edges_per_step": as_number(int, "simulator.edges_per_step", sim.pop("edges_per_step")),
        "mu_plus": tuple(as_number(float, "simulator.mu_plus", m) for m in sim.pop("mu_plus")),
        "mu_minus": tuple(as_number(float, "simulator.mu_minus", m) for m in sim.pop("mu_minus")),
        "rho": as_number(float, "simulator.rho", sim.pop("rho")),
        "eps": None if eps is None else tuple(as_number(float, "simulator.eps", e) for e in eps),
        "deterministic": sim.pop("deterministic", False),
    }
    if not isinstance(fields["deterministic"], bool):
        raise ViOdError(f"simulator.deterministic={fields['deterministic']} is not allowed: "
                        "must be true or false")  # fmt: skip
    if sim:
        raise ViOdError(f"unknown config key 'simulator.{next(iter(sim))}'")
    return SimulatorSettings(**fields).validate()


def check_truth(eps, where: str) -> None:
    """The true eps [F+, L+, F-, L-] of a data file, ordered (no JAX: checked on reading)."""
    validate_eps([float(e) for e in eps], where)
