"""Compose Hydra configs (compose API, no @hydra.main) and validate them into frozen settings.

Hydra and OmegaConf stop here: everything below this module takes plain typed objects.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vi_od.errors import ViOdError, require
from vi_od.models import LEARNED_RHO, Model, get_model, settings_reader

CONFIG_MODULE = "vi_od.conf"
CONFIG_PATH = "VI_OD_CONFIG_PATH"  # folders of a lab's own config groups (e.g. model/<name>.yaml)


def search_path() -> list[str]:
    """The override that adds $VI_OD_CONFIG_PATH's folders to Hydra's search path (a lab's
    own models: conf/model/<name>.yaml whose model.name is `package.module:ATTRIBUTE`)."""
    folders = [f for f in os.environ.get(CONFIG_PATH, "").split(os.pathsep) if f]
    if not folders:
        return []
    return [f"hydra.searchpath=[{','.join(Path(f).resolve().as_uri() for f in folders)}]"]


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose conf/config.yaml with key=value overrides; a bad override is a ViOdError."""
    for text in overrides:
        if text.lstrip().startswith(("~", "+")):  # Hydra's delete/add: no setting may vanish
            raise ViOdError(
                f"{text}: adding (+key) or deleting (~key) config keys is not supported; "
                "set a known key as key=value"
            )
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name="config", overrides=[*search_path(), *overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ViOdError(_one_line(exc, overrides)) from None


def _one_line(exc: Exception, overrides: Sequence[str]) -> str:
    """Hydra's multi-line errors, cut to one line that names the key and what is allowed."""
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        key = cause.full_key
        if "not in struct" in str(cause):
            return f"unknown config key '{key}' ({_known_keys_hint(key, overrides)})"
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


def _known_keys_hint(key: str, overrides: Sequence[str] = ()) -> str:
    """List the keys that do exist next to an unknown one (of the chosen method, simulator)."""
    groups = ("method=", "simulator=", "sweep=")
    base = compose_defaults([o for o in overrides if o.startswith(groups)])
    prefix, _, _ = key.rpartition(".")
    node = OmegaConf.select(base, prefix) if prefix else base
    if isinstance(node, DictConfig):
        known = ", ".join(f"{prefix + '.' if prefix else ''}{k}" for k in node.keys())
        return f"known: {known}"
    return "see conf/config.yaml"


def compose_defaults(choices: Sequence[str] = ()) -> DictConfig:
    """The config with no overrides but the config-group choices (method=nuts)."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name="config", overrides=[*search_path(), *choices])


def with_method(overrides: Sequence[str], method: str | None) -> list[str]:
    """The overrides with `--method M` as method=M; a different method=... is a conflict."""
    if method is None:
        return list(overrides)
    given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].strip() == "method"]
    if any(g.strip() != method for g in given):
        raise ViOdError(f"--method {method} and method={given[0]} disagree: give one of them")
    return list(overrides) if given else [*overrides, f"method={method}"]


def checked_seed(seed, option: str = "--seed") -> int:
    """A seed JAX and numpy both take: an integer in [0, 2**63)."""
    ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63
    require(ok, option, seed, "an integer in [0, 2**63)")
    return seed


def model_of(cfg: DictConfig) -> Model:
    """The model a composed config chooses (`model=NAME`, conf/model/<name>.yaml), with rho
    learned when `model.rho=learn` (else rho is the data's, or the simulator's for a log)."""
    rho = cfg.model.get("rho", "data")
    require(rho in ("data", "learn"), "model.rho", rho, "data or learn")
    return get_model(str(cfg.model.name) + (LEARNED_RHO if rho == "learn" else ""))


def simulator_settings(cfg: DictConfig):
    """The validated simulator settings of a composed config, by its model (read without
    importing the model's JAX code, for a built-in model)."""
    values = OmegaConf.to_container(cfg, resolve=True)
    read = settings_reader(str(cfg.model.name))
    return read({k: v for k, v in values.items() if k not in ("method", "sweep", "model")})


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


def method_settings(cfg: DictConfig):
    """The validated settings of the composed config's method."""
    from vi_od.inference import get

    values = OmegaConf.to_container(cfg.method, resolve=True)
    method = get(values.pop("name"))
    return method, settings_from_dict(method.Settings, values, "method")
