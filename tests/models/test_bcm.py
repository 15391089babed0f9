"""The one-role BCM: its simulator is the paper's without leaders, its pooled table is the exact
sum over interactions, nuts-marginal recovers eps+ and eps-, bad settings are refused."""

import jax.numpy as jnp
import numpy as np
import pytest

from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.models.bcm import Settings, simulate_trace, tabulate
from vi_od.models.bcm.settings import settings_from_config
from vi_od.models.pooled import exact_minus, exact_plus, minus_part, plus_part
from vi_od.progress import quiet

BCM = get_model("bcm")


@pytest.fixture(scope="module")
def trace():
    return simulate_trace(Settings(N=80, T=300, eps=(0.25, 0.75)).validate(), seed=4)


def test_a_trace_has_backfire_no_roles_and_only_receivers_move(trace):
    assert trace.roles is None and trace.eps.tolist() == pytest.approx([0.25, 0.75])
    assert trace.s_plus.sum() > 100 and trace.s_minus.sum() > 50
    moved = np.abs(np.diff(trace.X, axis=0)) > 0  # (T-1, N): only this step's receivers
    for t in (0, 100, 250):
        assert set(np.flatnonzero(moved[t])) <= set(trace.v[t].tolist())


def test_the_table_is_the_exact_sum_over_interactions(trace):
    obs = to_observations(trace)
    table = tabulate(obs)
    d = jnp.asarray(obs.abs_diff)
    sp, sm = jnp.asarray(obs.s_plus, jnp.float32), jnp.asarray(obs.s_minus, jnp.float32)
    for eps_plus, eps_minus in ((0.05, 0.55), (0.25, 0.75), (0.41, 0.93)):
        exact = exact_plus(eps_plus, d, sp, obs.rho) + exact_minus(eps_minus, d, sm, obs.rho)
        value = plus_part(table, eps_plus) + minus_part(table, eps_minus)
        assert float(value) == pytest.approx(float(exact), rel=5e-5)


def test_nuts_marginal_recovers_both_thresholds(trace):
    method = get("nuts-marginal")
    settings = method.Settings(warmup=200, samples=200).validate()
    with quiet():
        post = fit_observations(to_observations(trace), method.name, settings, 0, BCM).posterior
    assert post.param_names == ("eps_plus", "eps_minus") and post.p_leader is None
    assert np.all(np.abs(post.mean - [0.25, 0.75]) < 4 * post.std + 1e-3)


@pytest.mark.parametrize(
    ("simulator", "match"),
    [({"eps": [0.6, 0.7]}, r"eps\+ in \[0, 0.5\]"), ({"eps": 0.3}, "list of 2 numbers"),
     ({"mu_plus": 2.0}, "simulator.mu_plus"), ({"leader_proportion": 0.1}, "unknown config")],
)  # fmt: skip
def test_bad_settings_are_refused_in_one_line(simulator, match):
    sim = {"edges_per_step": 10, "mu_plus": 0.02, "mu_minus": 0.02, "rho": 32.0, "eps": None}
    with pytest.raises(ViOdError, match=match):
        settings_from_config({"N": 20, "T": 20, "simulator": sim | simulator})
