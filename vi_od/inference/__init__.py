"""Registry of inference methods: name -> Method(run, Settings).

Every method is `run(obs, settings, key, model) -> Posterior`, obs the flat table of
interactions (vi_od.data.observations) and model the `vi_od.models.Model` whose pieces it
uses (no method imports a model), with a frozen, validated Settings dataclass whose fields
are the keys of conf/method/<name>.yaml (minus `name`), and optionally
`limits(obs, settings, model)`, the check `vi-od fit` runs first. Adding a method = a
module exposing `METHODS` + its conf file + one entry in `_FAMILIES` (+ its entry in
limits.LIMITS).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from vi_od.errors import ViOdError, require
from vi_od.models import Model, default_model


class Method(NamedTuple):
    """A registered method: its name, its run function, its settings type, its limits."""

    name: str
    run: Callable[..., Any]  # (observations, settings, key, model) -> Posterior
    Settings: type
    needs: str  # the model's view it runs on: relaxed, collapsed or simulator
    # (observations, settings, model) -> None; raises ViOdError when a run would not fit
    limits: Callable[..., None] | None = None

    def fit(self, obs, settings, key, model: Model | None = None):
        """The posterior of `model` (default: the paper's BCM with roles) given the data."""
        model = model or default_model()
        model.view(self.needs, self.name)
        return self.run(obs, settings, key, model)


# module names under vi_od.inference, each exposing METHODS: dict[str, Method]
_FAMILIES = ("svi", "nuts", "abc", "abc_smc", "marginal")


@functools.cache
def registry() -> dict[str, Method]:
    """All registered methods by name, with their limits (vi_od.inference.limits) attached.

    Built once: each name maps to one Method object for the life of the process.
    """
    from vi_od.inference.limits import LIMITS

    out: dict[str, Method] = {}
    for family in _FAMILIES:
        out.update(importlib.import_module(f"vi_od.inference.{family}").METHODS)
    return {
        name: m if m.limits or name not in LIMITS else m._replace(limits=LIMITS[name])
        for name, m in out.items()
    }


def check_limits(method: Method, obs, settings, model: Model | None = None) -> None:
    """Refuse, before any work, a run the method estimates would not fit (one-line ViOdError).

    A method that cannot run at the data's size says so with its estimate instead of
    running out of memory or for hours (docs/scale.md).
    """
    model = model or default_model()
    model.view(method.needs, method.name)
    if method.limits is not None:
        method.limits(obs, settings, model)


def get(name: str) -> Method:
    """The method called `name`, or a ViOdError listing the known ones."""
    methods = registry()
    if name not in methods:
        raise ViOdError(f"unknown method '{name}' (available: {', '.join(sorted(methods))})")
    return methods[name]


def require_setting(ok: bool, key: str, value, allowed: str) -> None:
    """`require` for a method's own settings, named as users write them: method.<key>."""
    require(ok, f"method.{key}", value, allowed)
