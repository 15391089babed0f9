"""The persistent compilation cache: where it lives, how to turn it off, and that it works."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vi_od import compilation_cache
from vi_od.data import trace as trace_io

FIT = ["fit", "--method", "svi-normal", "method.steps=50", "method.num_samples=5"]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No cache variables from the caller; XDG_CACHE_HOME in the test's folder."""
    for name in ("JAX_COMPILATION_CACHE_DIR", compilation_cache.DISABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_the_default_folder_is_per_user_under_xdg_cache_home(clean_env):
    assert compilation_cache.cache_dir() == clean_env / "xdg" / "vi-od" / "jax"


def test_jax_compilation_cache_dir_wins(clean_env, monkeypatch):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(clean_env / "mine"))
    assert compilation_cache.cache_dir() == clean_env / "mine"


@pytest.mark.parametrize("name, value", [(compilation_cache.DISABLE, "1"),
                                         ("JAX_COMPILATION_CACHE_DIR", "")])  # fmt: skip
def test_the_cache_can_be_turned_off(clean_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert compilation_cache.cache_dir() is None


def _fit(trace: Path, env: dict) -> None:
    """`vi-od fit` in a fresh process, as a user runs it (its own hash seed: vi_od.__main__)."""
    args = [sys.executable, "-m", "vi_od", FIT[0], str(trace), *FIT[1:]]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_second_process_compiles_nothing_and_off_writes_nothing(small_trace, clean_env):
    trace = trace_io.save(small_trace, clean_env / "trace.npz")
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR",
                                                             "PYTHONHASHSEED")}  # fmt: skip
    folder = clean_env / "xdg" / "vi-od" / "jax"
    _fit(trace, env)
    first = _entries(folder)
    assert any(name.startswith("jit__chunk") for name in first)  # the SVI steps are cached
    _fit(trace, env)
    assert _entries(folder) == first  # every program was read back: none compiled again

    env["XDG_CACHE_HOME"] = str(clean_env / "off")
    _fit(trace, env | {compilation_cache.DISABLE: "1"})
    assert not (clean_env / "off").exists()
