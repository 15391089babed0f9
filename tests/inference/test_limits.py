"""Honest limits: each method's estimate, and the refusal before any work (docs/scale.md)."""

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vi_od import limits as resources
from vi_od.errors import ViOdError
from vi_od.inference import check_limits, get
from vi_od.inference import svi as svi_method
from vi_od.inference.limits import flow_parameters, table_bytes
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.relaxed import HermiteTable, LikelihoodTable

GiB = 2**30


@pytest.fixture
def four_gib(monkeypatch):
    """A laptop's 4 GiB free, whatever this machine has."""
    monkeypatch.setattr(resources, "available_memory", lambda: 4 * GiB)


def data(N, M, T=None, E=10):
    """Just the sizes the estimates read (building 10^7 real interactions is not needed)."""
    trace = None if T is None else SimpleNamespace(T=T, N=N, E=E)
    return SimpleNamespace(N=N, M=M, rho=32.0, trace=trace)


def check(name, obs, **settings):
    method = get(name)
    check_limits(method, obs, method.Settings(**settings).validate())


@pytest.mark.parametrize("N", [3, 10])
def test_flow_parameter_count_is_the_flows_own(N):
    table = HermiteTable(*(jnp.zeros((128, N)),) * 3, jnp.float32(0), jnp.float32(0.004))
    guide = svi_method.Guide("bnaf", 2, (8, 8))
    states = svi_method._init(guide, BCM_ROLES, jax.random.split(jax.random.PRNGKey(0), 1),
                              LikelihoodTable(table, table), jnp.float32(0.1))  # fmt: skip
    params = svi_method._svi(guide, BCM_ROLES).optim.get_params(states.optim_state)
    assert sum(np.size(p) for p in jax.tree.leaves(params)) == flow_parameters(N, 2, (8, 8))


def test_scalable_methods_run_at_1e5_agents_and_1e7_interactions(four_gib):
    obs = data(100_000, 10_000_000)
    assert table_bytes(obs, BCM_ROLES) < 2.5 * GiB
    for name in ("nuts-marginal", "svi-marginal", "svi-normal"):
        check(name, obs)  # no refusal


def test_the_memory_estimate_is_the_handed_models(four_gib):
    """A model whose tables would take a petabyte is refused by every method reading them."""
    huge = lambda obs: 1e15
    model = dataclasses.replace(
        BCM_ROLES,
        relaxed=dataclasses.replace(BCM_ROLES.relaxed, table_bytes=huge),
        collapsed=dataclasses.replace(BCM_ROLES.collapsed, table_bytes=huge),
    )
    obs = data(200, 10_000)  # svi-nf's flow grows as N^2: the paper grid's largest N for it
    for name in ("nuts-marginal", "svi-marginal", "svi-normal", "svi-nf", "nuts"):
        method = get(name)
        settings = method.Settings().validate()
        check_limits(method, obs, settings)  # the paper's model fits
        with pytest.raises(ViOdError, match="GiB"):
            check_limits(method, obs, settings, model)


def test_svi_nf_at_1e5_agents_is_refused_with_its_size(four_gib):
    with pytest.raises(ViOdError, match=r"svi-nf with 3.2e\+12 flow parameters .* GiB"):
        check("svi-nf", data(100_000, 10_000))
    check("svi-nf", data(200, 20_000))  # the paper grid's svi-nf runs


def test_svi_nf_is_refused_on_time_before_memory():
    # 1200 agents: 4.6e8 parameters fit in 11 GiB, but 10000 steps take hours on a CPU
    with pytest.raises(ViOdError, match=r"would take about \S+ h on this CPU"):
        check("svi-nf", data(1200, 100_000))


def test_relaxed_nuts_is_bounded_by_its_tree_cap(four_gib):
    check("nuts", data(400, 82_000))  # the paper grid's largest cell
    check("nuts", data(100_000, 10_000_000))  # worst case 1.2 h, 3.8 GB: it runs
    with pytest.raises(ViOdError, match="nuts on N=300000 .* memory"):
        check("nuts", data(300_000, 10_000_000))  # every iteration's roles: 5.8 GB
    with pytest.raises(ViOdError, match="at its tree cap .* h on this CPU"):
        check("nuts", data(400, 10_000_000), likelihood="exact")


def test_abc_is_bounded_by_its_simulations(four_gib):
    check("abc", data(400, 82_000, T=8192))
    with pytest.raises(ViOdError, match=r"abc \(15000 simulations of T=100000\)"):
        check("abc", data(10_000, 1_000_000, T=100_000))


def test_tables_beyond_memory_are_refused(four_gib):
    with pytest.raises(ViOdError, match=r"the table on N=10000000 .* more than the 4 GiB"):
        check("svi-marginal", data(10_000_000, 10_000_000))
