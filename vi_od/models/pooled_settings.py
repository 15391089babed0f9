"""What the models' settings share, without JAX: one reader of a composed config, and the
checks every model makes first and last, so that each model's file keeps only its own keys."""

import dataclasses

from vi_od.errors import ViOdError, as_number, require

# How a field's config value is read, by its annotation without " | None" (a string: the
# settings modules use `from __future__ import annotations`); a tuple is read from a list.
NUMBERS = {"int": int, "float": float}


def read_settings(cls, values: dict, *, null_is_default: bool = False):
    """A model's validated `cls` (its Settings) from a composed config (plain dict): N and T
    from the top, each other field from `simulator` as its annotation says, in field order,
    so that every model names its first bad key alike. A null (or absent) key keeps its
    default where that is None (drawn by the seed), or everywhere with null_is_default (as
    BCM-I and BCM-G read it); elsewhere a null number is refused, a null bool by validate()."""
    sim = dict(values["simulator"])
    own = [f for f in dataclasses.fields(cls) if f.name not in ("N", "T")]
    kinds = {f.name: f.type.removesuffix(" | None") for f in own}
    for key, kind in kinds.items():  # before N: a string would be read letter by letter
        value = sim.get(key)
        if kind.startswith("tuple") and value is not None and not isinstance(value, list):
            raise ViOdError(f"simulator.{key}={value} is not allowed: must be a list of "
                            f"{kind.count(',') + 1} numbers or null")  # fmt: skip
    fields = {"N": as_number(int, "N", values["N"]), "T": as_number(int, "T", values["T"])}
    for f in own:
        value, kind, key = sim.get(f.name), kinds[f.name], f"simulator.{f.name}"
        if value is None and (null_is_default or f.default is None):
            continue  # the dataclass's default
        if kind in NUMBERS:
            value = as_number(NUMBERS[kind], key, value)
        elif kind.startswith("tuple"):
            value = tuple(as_number(float, key, e) for e in value)
        fields[f.name] = value  # else as given: validate() checks a bool
    unknown = sorted(set(sim) - set(kinds))
    if unknown:
        raise ViOdError(f"unknown config key 'simulator.{unknown[0]}'")
    return cls(**fields).validate()


def check_size(settings, min_agents: int = 2) -> None:
    """N, T and edges_per_step: every model's first checks (BCM-G's graph needs N >= 3)."""
    require(settings.N >= min_agents, "N", settings.N, f"an integer >= {min_agents}")
    require(settings.T >= 2, "T", settings.T, "an integer >= 2")
    edges = settings.edges_per_step
    require(edges >= 1, "simulator.edges_per_step", edges, ">= 1")


def check_mu(settings, high: float, nullable: bool = False) -> None:
    """mu+ and mu- in [0, high]; null too where an unset mu is drawn by the seed (BCM-U)."""
    for key in ("mu_plus", "mu_minus"):
        mu = getattr(settings, key)
        ok = (nullable and mu is None) or 0 <= mu <= high
        require(ok, f"simulator.{key}", mu, ("null or " if nullable else "") + f"in [0, {high}]")


def check_rule(settings) -> None:
    """The interaction rule: rho (the sigmoid's steepness) and deterministic (the hard rule
    instead), BCM-U's, BCM-I's and BCM-G's last checks."""
    require(settings.rho > 0, "simulator.rho", settings.rho, "> 0")
    require(isinstance(settings.deterministic, bool), "simulator.deterministic",
            settings.deterministic, "true or false")  # fmt: skip


def as_pair(x) -> tuple[float, float]:
    """A model-level mu as the trace format's [F, L] pair (one group: both the same)."""
    return (float(x), float(x))


def check_eps(eps, where: str) -> None:
    """[eps+, eps-] with eps+ in [0, 1/2] and eps- in [1/2, 1]: the shared thresholds."""
    ok = len(eps) == 2 and 0 <= eps[0] <= 0.5 and 0.5 <= eps[1] <= 1
    require(ok, where, list(eps), "[eps+, eps-] with eps+ in [0, 0.5] and eps- in [0.5, 1]")
