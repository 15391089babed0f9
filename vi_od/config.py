"""Compose Hydra configs (compose API, no @hydra.main) and validate them into frozen settings.

Hydra and OmegaConf stop here: everything below this module takes plain typed objects.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vi_od.errors import ViOdError, require
from vi_od.models.bcm_roles.settings import SimulatorSettings

CONFIG_MODULE = "vi_od.conf"


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose conf/config.yaml with key=value overrides; a bad override is a ViOdError."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ViOdError(_one_line(exc, overrides)) from None


def _one_line(exc: Exception, overrides: Sequence[str]) -> str:
    """Hydra's multi-line errors, cut to one line that names the key and what is allowed."""
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        key = cause.full_key
        if "not in struct" in str(cause):
            return f"unknown config key '{key}' ({_known_keys_hint(key)})"
        return f"{key}: {str(cause).splitlines()[0]}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if "Available options in '" in str(exc):
        start = next(i for i, line in enumerate(lines) if line.startswith("Available options"))
        group = lines[start].split("'")[1]
        rest = lines[start + 1 :]
        options = [x for x in rest if not x.startswith(("Config search", "provider="))]
        choice = lines[0].split("/")[-1].rstrip("'")
        return f"unknown {group} '{choice}' (available: {', '.join(options)})"
    return f"invalid override: {lines[0] if lines else type(exc).__name__}"


def _known_keys_hint(key: str) -> str:
    """List the keys that do exist next to an unknown one."""
    base = compose_defaults()
    prefix, _, _ = key.rpartition(".")
    node = OmegaConf.select(base, prefix) if prefix else base
    if isinstance(node, DictConfig):
        known = ", ".join(f"{prefix + '.' if prefix else ''}{k}" for k in node.keys())
        return f"known: {known}"
    return "see conf/config.yaml"


def compose_defaults() -> DictConfig:
    """The config with no overrides."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name="config")


def simulator_settings(cfg: DictConfig) -> SimulatorSettings:
    """The validated simulator settings of a composed config."""
    sim = OmegaConf.to_container(cfg.simulator, resolve=True)
    eps = sim.pop("eps", None)
    fields = {
        "N": _as(int, "N", cfg.N),
        "T": _as(int, "T", cfg.T),
        "leader_proportion": _as(float, "leader_proportion", cfg.leader_proportion),
        "edges_per_step": _as(int, "simulator.edges_per_step", sim.pop("edges_per_step")),
        "mu_plus": tuple(_as(float, "simulator.mu_plus", m) for m in sim.pop("mu_plus")),
        "mu_minus": tuple(_as(float, "simulator.mu_minus", m) for m in sim.pop("mu_minus")),
        "rho": _as(float, "simulator.rho", sim.pop("rho")),
        "eps": None if eps is None else tuple(_as(float, "simulator.eps", e) for e in eps),
    }
    if sim:
        raise ViOdError(f"unknown config key 'simulator.{next(iter(sim))}'")
    return SimulatorSettings(**fields).validate()


def settings_from_dict(cls, values: dict, prefix: str):
    """Build a frozen settings dataclass from a config dict, naming unknown or mistyped keys.

    Each value is checked against its field's annotation before the dataclass sees it, so a
    method's own `validate()` only ever compares values of the right type.
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key, value in values.items():
        if key not in known:
            raise ViOdError(f"unknown config key '{prefix}.{key}' (known: {', '.join(known)})")
        require(_fits(value, hints[key]), f"{prefix}.{key}", value, _describe(hints[key]))
    try:
        obj = cls(**values)
    except TypeError as exc:
        raise ViOdError(f"{prefix}: {exc}") from None
    return obj.validate() if hasattr(obj, "validate") else obj


def _fits(value, kind) -> bool:
    """Whether a config value (YAML scalar or list) can stand for a field of type `kind`."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(value) == len(args) and all(map(_fits, value, args))
        return all(_fits(v, args[0]) for v in value) if args else True
    if kind is type(None):
        return value is None
    if kind is float:  # an integer stands for a float (lr=1); kept as given, so job ids hold
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _describe(kind) -> str:
    """A field type in the words of the error message: 'an integer', 'a list of 2 numbers'."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin in (tuple, list):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list of {_plural(args[0])}" if args else "a list"
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return words.get(kind, "null" if kind is type(None) else f"a {kind.__name__}")


def _plural(kind) -> str:
    return {int: "integers", float: "numbers", bool: "booleans", str: "strings"}.get(kind, "values")


def _as(kind, key: str, value):
    """Coerce a config value to int/float; say which key is wrong if it cannot be."""
    if isinstance(value, bool) or value is None:
        raise ViOdError(f"{key}={value} is not allowed: must be a number")
    try:
        out = kind(value)
    except (TypeError, ValueError):
        raise ViOdError(f"{key}={value} is not allowed: must be a number") from None
    if kind is int and out != value:
        raise ViOdError(f"{key}={value} is not allowed: must be an integer")
    return out


def method_settings(cfg: DictConfig):
    """The validated settings of the composed config's method."""
    from vi_od.inference import get

    values = OmegaConf.to_container(cfg.method, resolve=True)
    method = get(values.pop("name"))
    return method, settings_from_dict(method.Settings, values, "method")
