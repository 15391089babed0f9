"""The model seam: methods run whatever `Model` they are handed, and import none.

The second model here is the BCM with roles whose backfire thresholds are known (eps- fixed
at the truth): two parameters, eps+ of followers and leaders. It is written the way a new
model package would be, out of the likelihood building blocks, with its own prior
transform, numpyro models and simulator wrapper; no file under vi_od/ changes for it.
"""

import ast
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from vi_od.data.trace import to_observations
from vi_od.inference import get, registry
from vi_od.inference.fitting import fit_observations
from vi_od.inference.posterior import metrics
from vi_od.models import Collapsed, Model, Relaxed, Simulator
from vi_od.models.bcm_roles import EPS_NAMES, forward
from vi_od.models.bcm_roles.collapsed import (
    collapsed_log_likelihood,
    label_symmetric_beta,
    leader_probability,
)
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.relaxed import Interactions, interactions, log_likelihood_agents
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

TRUE_EPS = (0.35, 0.15, 0.65, 0.85)
EPS_MINUS = jnp.array(TRUE_EPS[2:])


def _all_four(eps_plus):
    """(..., 2) eps+ -> (..., 4) eps with the known eps-."""
    minus = jnp.broadcast_to(EPS_MINUS.astype(eps_plus.dtype), eps_plus.shape)
    return jnp.concatenate([eps_plus, minus], axis=-1)


def _from_theta(theta):
    return jax.nn.sigmoid(theta) / 2  # eps+ in (0, 1/2)


def _relaxed(data, temperature=0.1):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([data.N + 2]).to_event(1))
    eps = _all_four(numpyro.deterministic("eps", _from_theta(theta[:2])))
    roles = numpyro.sample(
        "roles", dist.RelaxedBernoulliLogits(temperature, logits=theta[2:]).to_event(1)
    )
    eps_plus = roles * eps[1] + (1 - roles) * eps[0]
    eps_minus = roles * eps[3] + (1 - roles) * eps[2]
    numpyro.factor("likelihood", log_likelihood_agents(eps_plus, eps_minus, data))


def _relaxed_exact(obs):
    data = interactions(obs)
    arrays = (data.abs_diff, data.receiver, data.s_plus, data.s_minus)
    model = lambda a, temperature: _relaxed(Interactions(*a, N=data.N, rho=data.rho), temperature)
    return model, arrays


def _collapsed(data, pi_prior=(1.0, 4.0), pi_fixed=None):
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    eps = numpyro.deterministic("params", _from_theta(theta))
    if pi_fixed is None:
        pi = numpyro.sample("pi", label_symmetric_beta(*pi_prior))
    else:
        pi = numpyro.deterministic("pi", jnp.asarray(pi_fixed, eps.dtype))
    numpyro.factor("likelihood", collapsed_log_likelihood(_all_four(eps), pi, data))


KNOWN_BACKFIRE = Model(
    name="bcm-roles-known-backfire",
    param_names=("eps_plus_F", "eps_plus_L"),
    swap=(1, 0),
    from_theta=_from_theta,
    relaxed=Relaxed(
        table=BCM_ROLES.relaxed.table,
        exact=lambda obs: _relaxed_exact(obs),
        model=_relaxed,
        table_bytes=BCM_ROLES.relaxed.table_bytes,
        unpack=lambda sites: (_from_theta(sites["theta"][..., :2]), sites["roles"]),
    ),
    collapsed=Collapsed(
        table=BCM_ROLES.collapsed.table,
        model=_collapsed,
        leader_probability=lambda eps, pi, data: leader_probability(_all_four(eps), pi, data),
        table_bytes=BCM_ROLES.collapsed.table_bytes,
    ),
    simulator=Simulator(
        observe=forward.observe,
        counts=lambda key, eps, roles, obs: forward.counts(key, _all_four(eps), roles, obs),
        rule_counts=lambda eps, roles, obs: forward.rule_counts(_all_four(eps), roles, obs),
        binary=forward.binary,
    ),
)


EXACT = ["nuts-marginal", "svi-marginal"]  # fitted in full by the recovery test
BUDGETS = {
    "nuts-marginal": {},
    "svi-marginal": {},
    "svi-normal": {"steps": 3000},
    "svi-nf": {"steps": 100},
    "nuts": {"warmup": 50, "samples": 50, "num_samples": 50, "likelihood": "exact"},
    "abc": {"simulations": 3000, "min_accepted": 30},
    "abc-smc": {"simulations": 3000, "population": 300},
}


@pytest.fixture(scope="module")
def known_backfire_trace():
    settings = SimulatorSettings(N=60, T=512, leader_proportion=0.1, eps=TRUE_EPS)
    return simulate_trace(settings, seed=11)


def test_every_method_has_a_seam_budget():
    assert set(BUDGETS) == set(registry())


@pytest.mark.parametrize("method", sorted(set(BUDGETS) - set(EXACT)))
def test_every_method_fits_the_model_it_is_handed(known_backfire_trace, method):
    settings = get(method).Settings(**BUDGETS[method]).validate()
    obs = to_observations(known_backfire_trace)
    with quiet():
        post = get(method).fit(obs, settings, jax.random.PRNGKey(0), KNOWN_BACKFIRE)
    assert post.param_names == ("eps_plus_F", "eps_plus_L")
    assert post.samples.shape[1] == 2 and post.p_leader.shape == (obs.N,)
    assert np.all((post.samples > 0) & (post.samples < 0.5))  # its own prior's range


@pytest.mark.parametrize("method", EXACT)
def test_the_exact_methods_recover_the_second_models_parameters(known_backfire_trace, method):
    """With eps- known, eps+ is recovered within 4 posterior sds (+0.01 for the table's
    interpolation) and the roles as well as by the four-parameter model (one agent's
    slack)."""
    obs = to_observations(known_backfire_trace)
    settings = get(method).Settings().validate()
    with quiet():
        post = get(method).fit(obs, settings, jax.random.PRNGKey(1), KNOWN_BACKFIRE)
        full = get(method).fit(obs, settings, jax.random.PRNGKey(1), BCM_ROLES)
    assert post.param_names == ("eps_plus_F", "eps_plus_L") and full.param_names == EPS_NAMES
    err = np.abs(post.mean - np.array(TRUE_EPS[:2]))
    assert np.all(err <= 4 * post.std + 0.01), (post.mean, post.std)
    truth = dataclasses.replace(obs, eps=None)  # the truth's 4 eps are the other model's
    role_error = lambda p: metrics(p, truth, KNOWN_BACKFIRE)["role_error_rate"]
    assert role_error(post) <= role_error(full) + 1 / obs.N


def test_the_fit_record_names_the_second_models_parameters(known_backfire_trace):
    """fit_observations with another model: its names key the record; the trace's true eps
    (four, the data generator's) are not scored against its two, the roles are."""
    settings = get("nuts-marginal").Settings(warmup=100, samples=100).validate()
    obs = to_observations(known_backfire_trace)
    with quiet():
        record = fit_observations(obs, "nuts-marginal", settings, 2, KNOWN_BACKFIRE).record
    data = record.to_json()
    assert list(data["mean"]) == ["eps_plus_F", "eps_plus_L"]
    assert data["model"] == KNOWN_BACKFIRE.name
    assert np.shape(data["draws"]["params"])[1] == 2
    assert "rmse_eps" not in data["metrics"] and 0 <= data["metrics"]["role_error_rate"] < 1


def test_no_method_imports_a_model():
    """Methods, their limits and the posterior use the record they are handed."""
    root = Path(__file__).parents[2] / "vi_od" / "inference"
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m and m.startswith("vi_od.models.")], path.name


def _literals_and_imports(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                and isinstance(n.value, str)}  # fmt: skip
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return literals, imported


def test_nothing_outside_a_models_package_names_its_parameters_or_imports_it():
    """Data, config, checks, experiments, reporting and the CLI read names from the model
    they are handed: none spells a built-in model's parameter names or imports its package."""
    from vi_od.models import BUILTIN, get_model

    names = {n for m in BUILTIN for n in get_model(m).names if len(n) > 3}  # not bare "eps"
    root = Path(__file__).parents[2] / "vi_od"
    offenders = {}
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root).as_posix()
        if where.startswith("models/"):
            continue
        literals, imported = _literals_and_imports(path)
        bad = sorted(literals & names) + sorted(
            m for m in imported if m.startswith("vi_od.models.") and m != "vi_od.models.pooled"
        )
        if bad:
            offenders[where] = bad
    assert not offenders, offenders
