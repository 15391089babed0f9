"""Every pooled model's settings reader answers a bad `simulator` value in one line that names
its key, and a null either keeps the key's default or is refused so: never a traceback."""

import dataclasses

import pytest

from vi_od.config import compose_config, simulator_settings
from vi_od.errors import ViOdError

MODELS = ("bcm", "bcm-backfire", "bcm-feed", "bcm-rewire", "deffuant")
KEYS = [(m, key) for m in MODELS for key in compose_config([f"model={m}"]).simulator]


def settings(model: str, key: str, value: str):
    return simulator_settings(compose_config([f"model={model}", f"simulator.{key}={value}"]))


@pytest.mark.parametrize(("model", "key"), KEYS)
@pytest.mark.parametrize("value", ["abc", "-1"])  # each key's: not a number, out of range
def test_a_bad_value_is_refused_naming_its_key(model, key, value):
    with pytest.raises(ViOdError, match=rf"^simulator\.{key}=\S+ is not allowed: must be "):
        settings(model, key, value)


@pytest.mark.parametrize(("model", "key"), KEYS)
def test_null_keeps_the_default_or_is_refused_naming_its_key(model, key):
    try:
        got = getattr(settings(model, key, "null"), key)
    except ViOdError as err:
        assert str(err) == f"simulator.{key}=None is not allowed: must be " + (
            "true or false" if key == "deterministic" else "a number")  # fmt: skip
    else:
        read = simulator_settings(compose_config([f"model={model}"]))
        default = {f.name: f.default for f in dataclasses.fields(read)}[key]
        assert got == default
