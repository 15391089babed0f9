"""Compose Hydra configs (compose API, no @hydra.main) and validate them into frozen settings.

Hydra and OmegaConf stop here: everything below this module takes plain typed objects.

Most commands give plain overrides (`N=200`, `method=svi-normal`, `method.steps=500`): those
are composed by `_compose_plain` from the YAML files alone, the same dict Hydra composes
(tests/test_config.py compares them), without importing Hydra (a fifth of a second): a bad
key or value is answered at once (docs/performance.md). Anything beyond (lists, quotes,
sweeps, interpolation, a lab's config path) goes to Hydra itself.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vi_od.errors import ViOdError, require
from vi_od.models import LEARNED_RHO, Model, get_model, settings_reader

if TYPE_CHECKING:
    from omegaconf import DictConfig

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
    plain = _compose_plain(overrides)
    if plain is not None:
        from omegaconf import OmegaConf

        cfg = OmegaConf.create(plain)
        OmegaConf.set_struct(cfg, True)  # as Hydra's: an unknown key is an error
        return cfg
    return _compose_hydra(overrides)


def _compose_hydra(overrides: Sequence[str]) -> DictConfig:
    """Hydra's compose, its errors cut to one line."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name="config", overrides=[*search_path(), *overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ViOdError(_one_line(exc, overrides)) from None


# ----------------------------------------------------------------------- without Hydra

_KEY = re.compile(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*")
_CHOICE = re.compile(r"[\w-]+")
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(0|[1-9][0-9]*)(\.[0-9]+([eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)")
_WORD = re.compile(r"[A-Za-z_][\w\-./:]*")


class _Beyond(Exception):
    """An override or a config file the plain composer leaves to Hydra."""


def _compose_plain(overrides: Sequence[str]) -> dict | None:
    """conf/config.yaml with plain overrides, composed as Hydra composes it (defaults list
    in order, a group's file under its name or at the top for `# @package _global_`, then
    the overrides in order); None when an override or a file needs Hydra itself.

    An unknown key or group option raises Hydra's own error message (`_one_line`'s)."""
    if os.environ.get(CONFIG_PATH):
        return None
    try:
        pairs = [_plain_override(text) for text in overrides]
        if len({key for key, _ in pairs}) < len(pairs):
            return None  # the same key twice: Hydra's rules
        folder = _conf_folder()
        top, package = _read_yaml(folder / "config.yaml")
        defaults = top.pop("defaults", None)
        groups = [_default(d) for d in defaults] if isinstance(defaults, list) else []
        if package is not None or "_self_" not in groups:
            raise _Beyond
        choices = dict(g for g in groups if g != "_self_")
        for key, value in pairs:
            if key in choices:
                choices[key] = _choice(folder, key, value)
        cfg: dict = {}
        for entry in groups:
            if entry == "_self_":
                _merge(cfg, top)
                continue
            group, _ = entry
            body, package = _read_group(folder / group / f"{choices[group]}.yaml")
            _merge(cfg, body if package == "_global_" else {group: body})
        for key, value in pairs:
            if key not in choices:
                _set(cfg, key, value, overrides)
        return cfg
    except _Beyond:
        return None


def _default(entry) -> tuple[str, str] | str:
    """A defaults-list entry: (group, option), or "_self_"."""
    if entry == "_self_":
        return entry
    if not isinstance(entry, dict) or len(entry) != 1:
        raise _Beyond
    group, name = next(iter(entry.items()))
    if not (_CHOICE.fullmatch(group) and isinstance(name, str) and _CHOICE.fullmatch(name)):
        raise _Beyond  # optional, override, a nested group, a list of options
    return group, name


def _conf_folder() -> Path:
    import vi_od.conf

    return Path(next(iter(vi_od.conf.__path__)))


def _plain_override(text: str) -> tuple[str, typing.Any]:
    """key=value with a plain key and a plain value (a number, true/false, null, a word)."""
    key, eq, value = text.partition("=")
    if not eq or not _KEY.fullmatch(key) or key.split(".")[0] == "hydra":
        raise _Beyond
    if _INT.fullmatch(value):
        return key, int(value)
    if _FLOAT.fullmatch(value):
        return key, float(value)
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    if value.lower() == "null":
        return key, None
    if _WORD.fullmatch(value) and not value.lower().startswith(("inf", "nan")):
        return key, value
    raise _Beyond


def _choice(folder: Path, group: str, name) -> str:
    """A config group's option, or Hydra's error naming the available ones."""
    if not isinstance(name, str) or not _CHOICE.fullmatch(name):
        raise _Beyond
    if not (folder / group / f"{name}.yaml").is_file():
        options = sorted(p.stem for p in (folder / group).glob("*.yaml"))
        raise ViOdError(f"unknown {group} '{name}' (available: {', '.join(options)})")
    return name


@functools.cache
def _yaml_loader():
    """OmegaConf's YAML loader: PyYAML's safe one, 1e-3 a float, no timestamps."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
            |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
            |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in Loader.yaml_implicit_resolvers.items()
    }
    return Loader


def _read_yaml(path: Path) -> tuple[dict, str | None]:
    """A config file's body and its `# @package` header (None: none)."""
    import yaml

    text = path.read_text()
    if "${" in text:
        raise _Beyond  # interpolation: OmegaConf resolves it
    data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a safe loader)
    if not isinstance(data, dict):
        raise _Beyond
    header = [line for line in text.splitlines() if line.startswith("# @package")]
    return data, header[0].split()[-1] if header else None


def _read_group(path: Path) -> tuple[dict, str | None]:
    """A group option's body and its package (None: under the group's name)."""
    body, package = _read_yaml(path)
    if package not in (None, "_global_") or "defaults" in body:
        raise _Beyond
    return body, package


def _merge(into: dict, other: dict) -> None:
    """OmegaConf.merge of plain dicts: dicts merged key by key, anything else replaced."""
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _set(cfg: dict, key: str, value, overrides: Sequence[str]) -> None:
    """Override a leaf that holds a number, a string, a bool or null; an unknown last key
    is Hydra's unknown-key error."""
    *parents, last = key.split(".")
    node = cfg
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            raise _Beyond
    if last not in node:
        raise ViOdError(f"unknown config key '{key}' ({_known_keys_hint(key, overrides)})")
    if isinstance(node[last], (dict, list)):
        raise _Beyond
    node[last] = value


def _one_line(exc: Exception, overrides: Sequence[str]) -> str:
    """Hydra's multi-line errors, cut to one line that names the key and what is allowed."""
    from omegaconf.errors import OmegaConfBaseException

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
    choices = [o for o in overrides if o.startswith(groups)]
    base = _compose_plain(choices)
    if base is None:
        from omegaconf import OmegaConf

        base = OmegaConf.to_container(compose_defaults(choices))
    prefix, _, _ = key.rpartition(".")
    node = base
    for part in prefix.split(".") if prefix else ():
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        known = ", ".join(f"{prefix + '.' if prefix else ''}{k}" for k in node.keys())
        return f"known: {known}"
    return "see conf/config.yaml"


def compose_defaults(choices: Sequence[str] = ()) -> DictConfig:
    """The config with no overrides but the config-group choices (method=nuts)."""
    return compose_config(choices)


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
    from omegaconf import OmegaConf

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
    from omegaconf import OmegaConf

    from vi_od.inference import get

    values = OmegaConf.to_container(cfg.method, resolve=True)
    method = get(values.pop("name"))
    return method, settings_from_dict(method.Settings, values, "method")
