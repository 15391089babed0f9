"""Which model explains the data? PSIS-LOO over per-agent log-likelihoods (docs/compare.md).

Every model is scored on the same partition of the same outcomes: term v is the log-likelihood
of the outcomes (s+, s-) of every interaction agent v received, given the opinions at each
interaction, with v's own latent (the BCM's role) summed out inside it and the global ones
(BCM-U's b) taken from each posterior draw (`vi_od.models.Pointwise`). The agent, not the
interaction, is the unit because a per-agent latent couples all of an agent's interactions:
leaving one interaction out would leave its role, learnt from the others, in. ArviZ computes
PSIS-LOO (`az.loo`), the ranking with the standard error of each difference and the stacking
weights (`az.compare`), and its plot (`az.plot_compare`).

Nested models that predict alike (the BCM with roles on data without leaders: pi -> 0 is the
one-role BCM) differ in elpd by noise; the verdict then goes to the simpler one by the
one-standard-error rule: of the models within one standard error of the difference of the
highest elpd, the one with the fewest parameters (`Model.size`).

Pareto k > 0.7 means the importance weights of that agent's leave-one-out are unreliable
(an influential agent, typically one of few leaders); the count is reported with every model
and a warning printed, never hidden.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.inference.posterior import Posterior
from vi_od.models import Model

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

K_BAD = 0.7  # Pareto k above which PSIS-LOO is unreliable (Vehtari et al. 2024)
OPINION_TOLERANCE = 1e-4  # a replay within this of the data's X reads the same opinions
CLEAR = 2.0  # a lead of more than CLEAR standard errors of the difference is not noise,
SMALL = 4.0  # unless under SMALL: there the SE itself is unreliable (Sivula et al. 2022)
ONE_SE = 1.0  # models this many SE of the difference from the top elpd tie (one-SE rule)


def _arviz():
    with warnings.catch_warnings():  # arviz announces its 1.0 refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


class Candidate(NamedTuple):
    """A model and what its pointwise terms read from the data."""

    model: Model
    data: object


def prepare(obs: Observations, models: Sequence[Model], needs: str, method: str):
    """Each model's pointwise data, or a one-line refusal before any fit: fewer than two
    models, a model twice, one without pointwise terms or the method's view, rho learned,
    data a model cannot score, or a model that would score other opinions than the rest."""
    names = [m.name for m in models]
    if needs != "collapsed":
        raise ViOdError(
            f"compare needs an exact method (nuts-marginal, svi-marginal), not {method}: "
            "the terms sum each agent's latent out, given each draw's parameters"
        )
    if len(models) < 2:
        raise ViOdError(f"compare needs at least two models (got {', '.join(names) or 'none'})")
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ViOdError(f"model {twice} is listed twice")
    for model in models:
        if "rho" in model.param_names:
            raise ViOdError(f"model {model.name}: compare scores at the data's rho; "
                            "rho learned is not supported yet")  # fmt: skip
        if model.pointwise is None:
            raise ViOdError(f"model {model.name} has no per-agent log-likelihood to compare")
        model.view(needs, method)
    built = {}  # models reading the same table (bcm, bcm-roles: per-agent tables) share it
    for m in models:
        if m.pointwise.table not in built:
            built[m.pointwise.table] = m.pointwise.table(obs)
    candidates = [Candidate(m, built[m.pointwise.table]) for m in models]
    _same_opinions(candidates)
    return candidates


def _same_opinions(candidates: list[Candidate]) -> None:
    """A model that replays the opinions from X[0] scores the same outcomes as models that
    read X only where one of its replays is the data's X."""
    readers = [c.model.name for c in candidates if c.model.pointwise.opinion_gap is None]
    for c in candidates:
        gap_of = c.model.pointwise.opinion_gap
        if gap_of is None or not readers:
            continue
        gap = gap_of(c.data)
        if gap > OPINION_TOLERANCE:
            raise ViOdError(
                f"model {c.model.name} replays the opinions from X[0], and no replay is the "
                f"data's X (max |X - replay| = {gap:.3g}) that {', '.join(readers)} read: "
                "they would score different quantities"
            )


def log_likelihood(posterior: Posterior, candidate: Candidate) -> np.ndarray:
    """(chain, draw, N): every agent's term at every posterior draw."""
    if not posterior.draws or "params" not in posterior.draws:
        raise ViOdError(f"method {posterior.method} keeps no posterior draws to compare")
    params = np.asarray(posterior.draws["params"])
    chains, draws, width = params.shape
    pi = posterior.draws.get("pi")
    pi = None if pi is None else np.asarray(pi, np.float64).reshape(-1)
    ll = candidate.model.pointwise.agents(params.reshape(-1, width), pi, candidate.data)
    return ll.reshape(chains, draws, -1)


class FileFit(NamedTuple):
    """A fit read from a fit file (`vi-od fit --out`), shaped as a fit made here: its
    posterior holds the record's draws as one chain."""

    posterior: Posterior
    record: object  # FitRecord


def fit_from_file(record, path: str, model: Model, obs: Observations, needs: str) -> FileFit:
    """A fit file as a comparison's fit of `model`, or a one-line refusal: a fit by a method
    that does not sum the latents out, of other data, or without the latent share's draws."""
    from vi_od.inference import get

    if record.model != model.name:
        raise ViOdError(f"{path}: a fit of model {record.model}, not {model.name}")
    method = get(record.method) if record.method else None
    if method is None or method.needs != needs:
        raise ViOdError(f"{path}: fitted by {record.method or 'an unknown method'}; compare "
                        "needs an exact method (nuts-marginal, svi-marginal)")  # fmt: skip
    if record.data_fingerprint is None:
        raise ViOdError(f"{path}: the fit file does not name its data (written by an older "
                        "vi-od): fit again with vi-od fit --out")  # fmt: skip
    if record.data_fingerprint != obs.fingerprint():
        raise ViOdError(f"{path}: not a fit of these data (other interactions or opinions)")
    pi = record.pi_draws
    if model.has_agents and pi is None:
        raise ViOdError(f"{path}: no draws of the latent share: fit again with vi-od fit --out")
    draws = {"params": record.draws[None]} | ({} if pi is None else {"pi": pi[None]})
    posterior = Posterior(record.method, record.param_names, record.draws, draws=draws)
    return FileFit(posterior, record)


class ModelScore(NamedTuple):
    """One model's PSIS-LOO."""

    elpd: float
    se: float
    p_loo: float
    k_max: float
    k_bad: int  # agents with k > K_BAD
    k_ok: int  # agents with 0.5 < k <= K_BAD (fine with enough draws)
    pareto_k: np.ndarray  # (N,)


def simplest_of_the_tied(diffs: dict[str, tuple[float, float]], sizes: dict[str, int]) -> str:
    """The one-standard-error rule (Breiman et al. 1984; Hastie et al. 2009, sec. 7.10): of
    the models whose elpd_diff to the top is within ONE_SE of its standard error, the one with
    the fewest parameters; among equal sizes, the higher elpd. `diffs`: name -> (elpd_diff,
    dse), top first."""
    tied = [n for n, (diff, dse) in diffs.items() if diff <= ONE_SE * dse]
    return min(tied, key=lambda n: sizes.get(n, 0))  # min keeps the first of equal sizes


class Comparison(NamedTuple):
    """The ranking (ArviZ's compare table, highest elpd first), the verdict, each model's LOO
    and the warnings."""

    table: pd.DataFrame
    scores: dict[str, ModelScore]
    agents: int
    warnings: tuple[str, ...]
    best: str  # the verdict: the top elpd, or a simpler model within one SE of it

    @property
    def top(self) -> str:
        """The model of the highest elpd."""
        return str(self.table.index[0])

    def clear_over(self, name: str) -> bool:
        """Whether the best model's lead over `name` is clear: over SMALL and over CLEAR
        standard errors of the difference."""
        row = self.table.loc[name]
        return bool(row["elpd_diff"] > max(SMALL, CLEAR * row["dse"]))


def compare(log_liks: dict[str, np.ndarray], sizes: dict[str, int] | None = None) -> Comparison:
    """PSIS-LOO of each model's (chain, draw, N) terms, ranked, with stacking weights; the
    verdict by the one-SE rule over the models' `sizes` (none: the top elpd)."""
    az = _arviz()
    idata = {name: az.from_dict(posterior={"_": np.zeros(ll.shape[:2])},
                                log_likelihood={"agent": ll}) for name, ll in log_liks.items()}
    notes, scores, loos = [], {}, {}
    with warnings.catch_warnings():  # ArviZ's own k warnings: said once, below, in our words
        warnings.simplefilter("ignore", UserWarning)
        for name, data in idata.items():
            loo = loos[name] = az.loo(data, pointwise=True)
            k = np.asarray(loo.pareto_k)
            scores[name] = ModelScore(
                elpd=float(loo.elpd_loo), se=float(loo.se), p_loo=float(loo.p_loo),
                k_max=float(k.max()), k_bad=int((k > K_BAD).sum()),
                k_ok=int(((k > 0.5) & (k <= K_BAD)).sum()), pareto_k=k,
            )  # fmt: skip
        table = az.compare(loos, ic="loo", method="stacking")  # PSIS once per model, not twice
    for name, s in scores.items():
        if s.k_bad:
            notes.append(
                f"{name}: {s.k_bad} of {s.pareto_k.size} agents have Pareto k > {K_BAD} "
                f"(max {s.k_max:.2f}): their leave-one-out terms are unreliable"
            )
    n = next(iter(log_liks.values())).shape[-1]
    diffs = {str(m): (float(r["elpd_diff"]), float(r["dse"])) for m, r in table.iterrows()}
    return Comparison(table, scores, n, tuple(notes), simplest_of_the_tied(diffs, sizes or {}))


def rows(result: Comparison) -> list[dict]:
    """One JSON-ready row per model, best first."""
    out = []
    for name, row in result.table.iterrows():
        s = result.scores[name]
        out.append({
            "model": str(name), "rank": int(row["rank"]), "elpd_loo": s.elpd, "se": s.se,
            "p_loo": s.p_loo, "elpd_diff": float(row["elpd_diff"]), "dse": float(row["dse"]),
            "weight": float(row["weight"]), "pareto_k_max": s.k_max, "k_above_0.7": s.k_bad,
            "k_0.5_to_0.7": s.k_ok,
        })  # fmt: skip
    return out


def to_json(result: Comparison, fits: dict[str, dict], cv: KFold | None = None,
            **context) -> dict:  # fmt: skip
    """The comparison for scripts: context (data, method, seed), the ranking, the verdict,
    the warnings, each fit's summary and the K-fold result if it ran."""
    best = result.best
    verdict = {
        "best": best,
        "top_elpd": result.top,
        "clear_over": {n: result.clear_over(n) for n in result.table.index[1:]},
        "rule": f"clear: elpd_diff > max({SMALL:g}, {CLEAR:g} dse); best: the fewest "
        f"parameters within {ONE_SE:g} dse of the top elpd",
    }
    return {**context, "unit": "agent", "agents": result.agents, "criterion": "PSIS-LOO (ArviZ)",
            "ranking": rows(result), "verdict": verdict, "warnings": list(result.warnings),
            "kfold": None if cv is None else {"folds": cv.folds, "unit": "agent",
                                              "best": cv.best, "ranking": cv.table},
            "fits": fits}  # fmt: skip


def row_columns(result: Comparison, truth: str, fits: dict) -> dict:
    """A sweep row's compare_* columns: the winner, the generating model's rank and weight,
    the runner-up's distance in elpd and its SE, and each model's LOO, weight and bad k."""
    table = result.table
    runner_up = table.iloc[1]
    out = {
        "compare_models": ",".join(result.scores),
        "compare_best": result.best,
        "compare_top": result.top,
        "compare_margin": float(runner_up["elpd_diff"]),
        "compare_margin_se": float(runner_up["dse"]),
        "compare_clear": all(result.clear_over(n) for n in table.index[1:]),
        "compare_true_first": result.best == truth,
        "compare_true_weight": float(table.loc[truth, "weight"]) if truth in table.index else None,
    }
    for name, s in result.scores.items():
        out |= {f"elpd_loo_{name}": s.elpd, f"weight_{name}": float(table.loc[name, "weight"]),
                f"k_bad_{name}": float(s.k_bad), f"p_loo_{name}": s.p_loo,
                f"fit_s_{name}": fits[name].record.wall_time_s}  # fmt: skip
    return out


def figure(result: Comparison) -> Figure:
    """ArviZ's compare plot: each model's elpd_loo with its SE, and the differences to the
    best with their SE."""
    import matplotlib.pyplot as plt

    az = _arviz()
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.6 * len(result.scores)))
    az.plot_compare(result.table, insample_dev=False, ax=ax)
    ax.set_title(f"PSIS-LOO over {result.agents} agents (higher is better)")
    fig.tight_layout()
    return fig


def run(
    obs: Observations,
    candidates: Sequence[Candidate],
    fit: Callable[[Model, Observations], object],
) -> tuple[Comparison, dict]:
    """Fit each candidate (`fit(model, obs) -> FitResult`) and compare: (comparison, fits)."""
    fits = {c.model.name: fit(c.model, obs) for c in candidates}
    # an agent that received nothing has the term 0 under every model: no information, and a
    # constant PSIS cannot fit (k = inf); it is left out of every model alike
    active = obs.received() > 0
    log_liks = {c.model.name: log_likelihood(fits[c.model.name].posterior, c)[..., active]
                for c in candidates}  # fmt: skip
    for name, ll in log_liks.items():
        if not np.isfinite(ll).all():
            raise ViOdError(f"model {name}: a pointwise log-likelihood is not finite")
    return compare(log_liks, {c.model.name: c.model.size for c in candidates}), fits


# --- K-fold over agents: no importance sampling, K refits per model ---------------------------


class KFold(NamedTuple):
    """Held-out elpd of each model, highest first: per model (elpd, se, elpd_diff, dse), and
    the verdict by the same one-SE rule as PSIS-LOO's."""

    folds: int
    table: dict[str, dict[str, float]]
    best: str


def agent_folds(N: int, k: int, seed: int) -> np.ndarray:
    """(N,) each agent's fold, 0..k-1, balanced and shuffled by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF01D]))
    return rng.permutation(N) % k


def without_agents(obs: Observations, held: np.ndarray) -> Observations:
    """The observations minus the interactions the `held` agents (N,) received; the opinions
    every term reads stay those of the full data."""
    keep = ~held[obs.receiver]
    columns = ("time", "sender", "receiver", "sender_opinion", "receiver_opinion", "s_plus",
               "s_minus")  # fmt: skip
    return dataclasses.replace(obs, trace=None, **{c: getattr(obs, c)[keep] for c in columns})


AUTO_FOLDS = 10  # folds of the fallback when some agent's Pareto k is high


def kfold_possible(obs: Observations, candidates: Sequence[Candidate]) -> bool:
    """Whether every model can be refitted without some agents (replaying models cannot)."""
    return all(c.model.pointwise.opinion_gap is None for c in candidates) and obs.N >= 2


def check_kfold(obs: Observations, candidates: Sequence[Candidate], k: int) -> None:
    """Refuse, before any fit, a K-fold that cannot run."""
    for c in candidates:
        if c.model.pointwise.opinion_gap is not None:
            raise ViOdError(f"K-fold: model {c.model.name} replays every interaction from X[0] "
                            "and cannot leave agents out yet; use --kfold 0")  # fmt: skip
    if not 2 <= k <= obs.N:
        raise ViOdError(f"--kfold {k}: must be 0 (off) or between 2 and N = {obs.N}")


def kfold(
    obs: Observations, candidates: Sequence[Candidate], fit: Callable, k: int, seed: int
) -> KFold:
    """K-fold cross-validation over agents: each fold's agents held out, every model refitted
    on the rest, and the held-out agents scored by their log predictive density, log of the
    mean over draws of p(outcomes | draw). The fallback when Pareto k is high."""
    from scipy.special import logsumexp

    check_kfold(obs, candidates, k)
    fold = agent_folds(obs.N, k, seed)
    terms = {c.model.name: np.zeros(obs.N) for c in candidates}
    for f in range(k):
        held = fold == f
        train = without_agents(obs, held)
        for c in candidates:
            ll = log_likelihood(fit(c.model, train).posterior, c)
            ll = ll.reshape(-1, obs.N)[:, held]
            terms[c.model.name][held] = logsumexp(ll, axis=0) - np.log(ll.shape[0])
    elpd = {n: float(t.sum()) for n, t in terms.items()}
    order = sorted(elpd, key=elpd.get, reverse=True)
    best = terms[order[0]]
    table = {}
    for n in order:
        diff = best - terms[n]
        table[n] = {"elpd_kfold": elpd[n], "se": float(np.sqrt(obs.N * terms[n].var())),
                    "elpd_diff": float(diff.sum()), "dse": float(np.sqrt(obs.N * diff.var()))}
    diffs = {n: (r["elpd_diff"], r["dse"]) for n, r in table.items()}
    return KFold(k, table, simplest_of_the_tied(diffs, {c.model.name: c.model.size
                                                        for c in candidates}))


def fit_summary(record) -> dict:
    """What the comparison keeps of one fit: means, time and convergence."""
    info = record.info
    out = {"mean": record.summary["mean"], "wall_time_s": record.wall_time_s,
           "converged": info.get("converged")}  # fmt: skip
    if "r_hat" in info:
        out |= {"max_r_hat": max(info["r_hat"].values()), "divergences": info["divergences"]}
    if "leader_proportion" in info:
        out["leader_proportion"] = info["leader_proportion"]
    return out
