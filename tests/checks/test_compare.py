"""vi-od compare (vi_od/checks/compare.py): pointwise terms against closed forms, the verdicts
on traces with and without leaders, and bad input refused in one line before any fit."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from vi_od.checks import compare as comparing
from vi_od.cli import app
from vi_od.data import trace as trace_io
from vi_od.data.trace import to_observations
from vi_od.errors import ViOdError
from vi_od.inference import get
from vi_od.inference.fitting import fit_observations
from vi_od.models import get_model
from vi_od.progress import quiet

runner = CliRunner()


def simulated(model: str, seed: int, **settings):
    sim = get_model(model).simulation
    return sim.simulate(sim.settings(**settings).validate(), seed)


def draws(rng, S: int, P: int, *, b=None):
    """S parameter vectors of the paper's transform (eps+ in (0, 1/2), eps- in (1/2, 1))."""
    half = rng.uniform(0.02, 0.48, (S, P))
    half[:, P // 2 :] += 0.5
    if b is not None:
        half = np.concatenate([half, np.full((S, 1), float(b))], axis=1)
    return half


# --- the terms against the exact sums over interactions ---------------------------------------


@pytest.fixture(scope="module")
def roles_obs():
    return to_observations(simulated("bcm-roles", 5, N=40, T=120, leader_proportion=0.1))


def test_bcm_roles_terms_sum_to_the_collapsed_likelihood(roles_obs):
    from vi_od.models.bcm_roles.collapsed import collapsed_log_likelihood, group_by_receiver

    model = get_model("bcm-roles")
    rng = np.random.default_rng(0)
    params, pi = draws(rng, 5, 4), rng.uniform(0.05, 0.5, 5)
    terms = model.pointwise.agents(params, pi, model.pointwise.table(roles_obs))
    exact = group_by_receiver(roles_obs)  # padded rows: no table, no interpolation
    for s in range(5):
        total = collapsed_log_likelihood(jnp.asarray(params[s], jnp.float32), pi[s], exact)
        assert terms.shape == (5, roles_obs.N)
        assert terms[s].sum() == pytest.approx(float(total), rel=1e-5)


def test_bcm_terms_are_each_agents_exact_sum(roles_obs):
    from vi_od.models.pooled import exact_minus, exact_plus

    model = get_model("bcm")
    params = draws(np.random.default_rng(1), 3, 2)
    terms = model.pointwise.agents(params, None, model.pointwise.table(roles_obs))
    d, v = roles_obs.abs_diff, roles_obs.receiver
    for s in range(3):
        for agent in (0, 7, 39):
            mine = v == agent
            exact = exact_plus(params[s, 0], d[mine], roles_obs.s_plus[mine], roles_obs.rho)
            exact += exact_minus(params[s, 1], d[mine], roles_obs.s_minus[mine], roles_obs.rho)
            assert terms[s, agent] == pytest.approx(float(exact), rel=1e-5, abs=1e-4)


def test_deffuant_terms_score_s_plus_only():
    from vi_od.models.pooled import exact_plus

    obs = to_observations(simulated("deffuant", 2, N=30, T=80))
    model = get_model("deffuant")
    params = np.array([[0.1], [0.3]])
    terms = model.pointwise.agents(params, None, model.pointwise.table(obs))
    for s in range(2):
        exact = exact_plus(params[s, 0], obs.abs_diff, obs.s_plus, obs.rho)
        assert terms[s].sum() == pytest.approx(float(exact), rel=1e-5)


@pytest.mark.parametrize("b", [0, 1])
def test_bcm_backfire_terms_read_the_replay_of_each_draws_b(b):
    from vi_od.models.bcm_backfire import _exact_log_likelihoods, replayed

    obs = to_observations(simulated("bcm-backfire", 3, N=30, T=100, backfire=1))
    model = get_model("bcm-backfire")
    data = model.pointwise.table(obs)
    assert model.pointwise.opinion_gap(data) < 1e-5  # X is the replay under the true b = 1
    params = draws(np.random.default_rng(2), 3, 2, b=b)
    terms = model.pointwise.agents(params, None, data)
    for s in range(3):
        exact = _exact_log_likelihoods(jnp.asarray(params[s, :2]), replayed(obs))[b]
        assert terms[s].sum() == pytest.approx(float(exact), rel=1e-5)


# --- verdicts ---------------------------------------------------------------------------------

SHORT = {"warmup": 200, "samples": 200}  # nuts-marginal on 3 to 5 dimensions: enough for LOO


def compared(trace, names):
    obs = to_observations(trace)
    method = get("nuts-marginal")
    settings = method.Settings(**SHORT).validate()
    candidates = comparing.prepare(obs, [get_model(n) for n in names], method.needs, method.name)
    with quiet():
        fit = lambda m, data: fit_observations(data, method.name, settings, 0, m)
        return comparing.run(obs, candidates, fit)[0]


def test_leaders_are_found_when_there_are_some():
    trace = simulated("bcm-roles", 11, N=60, T=256, leader_proportion=0.1,
                      eps=(0.35, 0.15, 0.65, 0.85))  # fmt: skip
    result = compared(trace, ["bcm", "bcm-roles"])
    assert result.best == "bcm-roles"
    assert result.clear_over("bcm")
    assert result.table.loc["bcm-roles", "weight"] > 0.9
    row = comparing.row_columns(result, "bcm-roles", {n: _Fit() for n in result.scores})
    assert row["compare_true_first"] and row["compare_clear"]


def test_no_leaders_are_not_claimed_on_a_one_role_trace():
    trace = simulated("bcm", 12, N=60, T=256, eps=(0.25, 0.75))
    result = compared(trace, ["bcm-roles", "bcm"])
    bcm_roles_clearly_ahead = result.best == "bcm-roles" and result.clear_over("bcm")
    assert not bcm_roles_clearly_ahead
    assert result.best == "bcm"  # within one SE, the simpler model
    assert result.scores["bcm"].k_bad == 0


class _Fit:
    class record:  # noqa: N801 (a stand-in for a FitRecord)
        wall_time_s = 0.0


# --- bad input: one line, exit 2, nothing written ---------------------------------------------


def one_line_error(args, match: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def roles_file(tmp_path, small_trace):
    return trace_io.save(small_trace, tmp_path / "roles.npz")


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ("bcm-roles,nope", "unknown model 'nope'"),
        ("bcm-roles", "at least two models"),
        ("bcm,bcm", "listed twice"),
        ("bcm-roles,deffuant", "has no backfire"),
        ("bcm,bcm-backfire+rho", "rho learned"),
        ("bcm,bcm-roles+rho", "rho learned"),
        ("bcm,bcm-roles --method svi-normal", "needs an exact method"),
    ],
)
def test_bad_model_lists_are_refused_before_any_fit(roles_file, tmp_path, models, match):
    out = tmp_path / "c.json"
    models, *more = models.split()
    one_line_error(["compare", roles_file, "--models", models, *more, "--out", out], match)
    assert not out.exists()


def test_a_model_replaying_other_opinions_than_the_data_is_refused(tmp_path):
    path = trace_io.save(simulated("deffuant", 1, N=20, T=40), tmp_path / "d.npz")  # both move
    one_line_error(["compare", path, "--models", "bcm,bcm-backfire"], "no replay is the data's X")


def test_an_event_log_cannot_be_replayed(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("time,sender,receiver,sender_opinion,receiver_opinion,positive,negative\n"
                   "1,a,b,0.1,0.2,1,0\n2,b,a,0.3,0.4,0,1\n")  # fmt: skip
    one_line_error(["compare", log, "--models", "bcm,bcm-backfire"], "give a .npz trace")


def test_a_sweep_compare_list_of_one_model_is_refused():
    from vi_od.experiments.sweep import expand

    with pytest.raises(ViOdError, match="sweep.compare"):
        expand(["sweep=compare", "N=20", "T=20", "rep=0", "sweep.compare=[bcm]"], multirun=True)


def test_cli_writes_the_ranking_and_the_plot(tmp_path):
    path = trace_io.save(simulated("bcm", 4, N=30, T=100), tmp_path / "b.npz")
    out, plot = tmp_path / "c.json", tmp_path / "c.png"
    args = ["compare", path, "--models", "bcm,deffuant", "method.warmup=100",
            "method.samples=100", "--out", out, "--plot", plot]  # fmt: skip
    # bcm's data hold backfire: deffuant refuses them, the whole command writes nothing
    one_line_error(args, "has no backfire")
    args[3] = "bcm,bcm-roles"
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["unit"] == "agent" and record["agents"] == 30
    assert {r["model"] for r in record["ranking"]} == {"bcm", "bcm-roles"}
    assert sum(r["weight"] for r in record["ranking"]) == pytest.approx(1.0)
    assert plot.stat().st_size > 0


def test_kfold_holds_out_each_agents_interactions_and_agrees_with_loo():
    obs = to_observations(simulated("bcm", 6, N=40, T=200, eps=(0.25, 0.75)))
    held = comparing.agent_folds(obs.N, 4, seed=0) == 0
    train = comparing.without_agents(obs, held)
    assert not held[train.receiver].any() and train.M == (~held[obs.receiver]).sum()
    method = get("nuts-marginal")
    settings = method.Settings(**SHORT).validate()
    candidates = comparing.prepare(obs, [get_model("bcm"), get_model("bcm-roles")], method.needs,
                                   method.name)  # fmt: skip
    with quiet():
        fit = lambda m, data: fit_observations(data, method.name, settings, 0, m)
        loo, _ = comparing.run(obs, candidates, fit)
        cv = comparing.kfold(obs, candidates, fit, 4, seed=0)
    for name, score in loo.scores.items():  # two estimates of one expected held-out density
        assert cv.table[name]["elpd_kfold"] == pytest.approx(score.elpd, abs=max(3, score.se))


def test_agents_that_received_nothing_are_left_out_of_every_model(tmp_path):
    obs = to_observations(simulated("bcm", 8, N=30, T=4, eps=(0.25, 0.75)))  # 30 interactions
    quiet_agents = obs.N - int((obs.received() > 0).sum())
    method = get("nuts-marginal")
    settings = method.Settings(warmup=50, samples=50).validate()
    candidates = comparing.prepare(obs, [get_model("bcm"), get_model("bcm-roles")], method.needs,
                                   method.name)  # fmt: skip
    with quiet():
        fit = lambda m, data: fit_observations(data, method.name, settings, 0, m)
        result, _ = comparing.run(obs, candidates, fit)
    assert quiet_agents > 0 and result.agents == obs.N - quiet_agents
    assert all(np.isfinite(s.k_max) for s in result.scores.values())


# --- the one-standard-error rule --------------------------------------------------------------


def test_the_simplest_model_within_one_se_of_the_top_is_the_verdict():
    sizes = {"roles": 5, "one": 2, "plain": 1}
    within = {"roles": (0.0, 0.0), "one": (0.8, 1.0), "plain": (30.0, 5.0)}
    assert comparing.simplest_of_the_tied(within, sizes) == "one"
    beyond = {"roles": (0.0, 0.0), "one": (1.2, 1.0), "plain": (30.0, 5.0)}
    assert comparing.simplest_of_the_tied(beyond, sizes) == "roles"
    same_size = {"a": (0.0, 0.0), "b": (0.1, 1.0)}  # equal sizes: the elpd order stands
    assert comparing.simplest_of_the_tied(same_size, {"a": 2, "b": 2}) == "a"


def test_a_richer_model_ahead_by_noise_loses_the_verdict_not_the_rank():
    rng = np.random.default_rng(0)
    base = rng.normal(-20.0, 1.0, size=(2, 100, 50))  # (chain, draw, agent) terms
    richer = base + rng.normal(0.01, 0.05, size=(1, 1, 50))  # a hair better on some agents
    result = comparing.compare({"bcm-roles": richer, "bcm": base}, {"bcm-roles": 5, "bcm": 2})
    assert result.top == "bcm-roles" and result.best == "bcm"
    row = comparing.row_columns(result, "bcm", {n: _Fit() for n in result.scores})
    assert row["compare_true_first"] and row["compare_top"] == "bcm-roles"
    assert comparing.compare({"bcm-roles": richer + 5.0, "bcm": base},
                             {"bcm-roles": 5, "bcm": 2}).best == "bcm-roles"  # fmt: skip


# --- fit files as input (--fits) --------------------------------------------------------------


@pytest.fixture(scope="module")
def fit_files(tmp_path_factory):
    """A trace with leaders, its bcm-roles and bcm fits by nuts-marginal and one by
    svi-normal, written as fit files; and the comparison of the same fits made here."""
    from vi_od.inference.fitting import write_json

    folder = tmp_path_factory.mktemp("fits")
    trace = simulated("bcm-roles", 21, N=30, T=100, leader_proportion=0.1)
    path = trace_io.save(trace, folder / "t.npz")
    obs = to_observations(trace)
    method = get("nuts-marginal")
    settings = method.Settings(warmup=100, samples=100).validate()
    files, fits = {}, {}
    with quiet():
        for name in ("bcm-roles", "bcm"):
            fits[name] = fit_observations(obs, method.name, settings, 0, get_model(name))
            files[name] = write_json(fits[name].record.to_json(), folder / f"{name}.json")
        svi = get("svi-normal")
        relaxed = fit_observations(obs, svi.name, svi.Settings(steps=50).validate(), 0,
                                   get_model("bcm"))
        files["svi"] = write_json(relaxed.record.to_json(), folder / "svi.json")
    candidates = comparing.prepare(obs, [get_model("bcm-roles"), get_model("bcm")],
                                   method.needs, method.name)  # fmt: skip
    here, _ = comparing.run(obs, candidates, lambda m, _: fits[m.name])
    return path, files, here


def test_fit_files_compare_as_the_fits_they_hold(fit_files, tmp_path):
    path, files, here = fit_files
    out = tmp_path / "c.json"
    args = ["compare", path, "--fits", f"{files['bcm-roles']},{files['bcm']}", "--out", out]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    ranking = {r["model"]: r for r in json.loads(out.read_text())["ranking"]}
    for name, score in here.scores.items():  # the file's draws: 6 decimals of the same draws
        assert ranking[name]["elpd_loo"] == pytest.approx(score.elpd, abs=1e-3)


@pytest.mark.parametrize(
    ("which", "more", "match"),
    [
        ("bcm-roles,svi", [], "needs an exact method"),
        ("bcm-roles,bcm", ["--method", "svi-marginal"], "give --fits or --method"),
        ("bcm-roles,bcm", ["--kfold", "3"], "compare without --fits"),
        ("bcm-roles,bcm", ["--models", "bcm,deffuant"], "the fit files are of bcm-roles, bcm"),
        ("bcm-roles,bcm-roles", [], "listed twice"),
    ],
)
def test_fit_files_that_cannot_be_compared_are_refused(fit_files, tmp_path, which, more, match):
    path, files, _ = fit_files
    fits = ",".join(str(files[w]) for w in which.split(","))
    out = tmp_path / "c.json"
    one_line_error(["compare", path, "--fits", fits, *more, "--out", out], match)
    assert not out.exists()


def test_a_fit_of_other_data_or_of_unnamed_data_is_refused(fit_files, tmp_path):
    path, files, _ = fit_files
    other = trace_io.save(simulated("bcm-roles", 22, N=30, T=100, leader_proportion=0.1),
                          tmp_path / "other.npz")  # same agents 0..29, other interactions
    fits = f"{files['bcm-roles']},{files['bcm']}"
    one_line_error(["compare", other, "--fits", fits], "not a fit of these data")
    old = json.loads(files["bcm"].read_text())
    del old["data_fingerprint"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    one_line_error(["compare", path, "--fits", f"{files['bcm-roles']},{tmp_path / 'old.json'}"],
                   "does not name its data")  # fmt: skip
