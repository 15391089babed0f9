"""Registry of inference methods: name -> Method(fit, Settings).

Every method is `fit(obs, settings, key) -> Posterior`, obs the flat table of interactions
(vi_od.data.observations), with a frozen, validated Settings dataclass whose fields are the
keys of conf/method/<name>.yaml (minus `name`). Adding a method = a module exposing
`METHODS` + its conf file + one entry in `_FAMILIES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

from vi_od.errors import ViOdError, require


class Method(NamedTuple):
    """A registered method: its name, its fit function and its settings type."""

    name: str
    fit: Callable[..., Any]  # (observations, settings, key) -> Posterior
    Settings: type


# module names under vi_od.inference, each exposing METHODS: dict[str, Method]
_FAMILIES = ("svi", "nuts", "abc", "abc_smc", "marginal")


def registry() -> dict[str, Method]:
    """All registered methods by name."""
    out: dict[str, Method] = {}
    for family in _FAMILIES:
        out.update(importlib.import_module(f"vi_od.inference.{family}").METHODS)
    return out


def get(name: str) -> Method:
    """The method called `name`, or a ViOdError listing the known ones."""
    methods = registry()
    if name not in methods:
        raise ViOdError(f"unknown method '{name}' (available: {', '.join(sorted(methods))})")
    return methods[name]


def require_setting(ok: bool, key: str, value, allowed: str) -> None:
    """`require` for a method's own settings, named as users write them: method.<key>."""
    require(ok, f"method.{key}", value, allowed)
