"""The sweep tests' job processes share one persistent JAX cache, kept out of the user's home
(SLURM workers inherit it through sbatch's environment)."""

import os

import pytest


@pytest.fixture(scope="module", autouse=True)
def shared_compilation_cache(tmp_path_factory):
    old = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    yield
    if old is None:
        os.environ.pop("JAX_COMPILATION_CACHE_DIR")
    else:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = old
