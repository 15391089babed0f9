"""Sequential Monte Carlo ABC (population Monte Carlo, as pyABC's ABCSMC), on JAX.

The paper's published ABC runs used pyABC's ABC-SMC (docs/scale.md). Here the same
algorithm drives our vmapped count-only simulator in chunks instead of one Python call per
particle. A particle is (theta, z): continuous parameters theta and binary variables z
(the roles). Generation 0 draws `population` particles from the prior. Generation t sets
epsilon_t = max(min_epsilon, weighted `quantile` of generation t-1's distances) and
proposes candidates until `population` of them are within epsilon_t: pick a parent j with
probability w_j, move theta with a Gaussian of covariance kernel_scale x the weighted
covariance of the population (pyABC's default kernel, scale 2), and redraw each binary
variable, with probability `redraw`, from its prior given the new theta (keep the parent's
value otherwise). An accepted particle i gets the importance weight

    w_i  oc  p(theta_i) p(z_i | theta_i) / sum_j w_j K(theta_i | theta_j) R(z_i | z_j, theta_i)
    R(z | z', theta) = prod_u [(1 - redraw) 1(z_u = z'_u) + redraw p(z_u | theta)]

i.e. target / proposal density, the proposal being the mixture over parents of the joint
kernel. The discrete kernel cannot be left out of that sum even when it is symmetric: a
symmetric kernel cancels in a Metropolis-Hastings ratio, not in an importance weight,
because R(z_i | z_j) differs between parents j. With redraw = 1 it does cancel, exactly:
R(z_i | z_j, theta_i) = p(z_i | theta_i) for every j, so the weight reduces to pyABC's
p(theta_i) / sum_j w_j K(theta_i | theta_j). With redraw < 1 (under the Bernoulli(1/2)
role prior: flip each role with probability redraw / 2, a symmetric kernel) R is local:
among N-dimensional role vectors a child is reachable in practice only from its own parent,
the sum collapses to one term, and the weights degenerate: with redraw = 0.2 the final
effective sample size averaged 14 of 1000 particles on 12 traces with N = 50-100 (270 with
redraw = 1). The weights stay correct (tests/test_abc_smc.py checks them against an exact
posterior over binary variables), only inefficient for N roles.

A model's other discrete latents (a feed's k in 1..F) are no part of z: they are drawn
through extra N(0, 1) thetas after the parameters' (`Simulator.extra_thetas`), mapped to
their values inside the simulation (`Simulator.latents_from_theta`). Those thetas are
moved by the same Gaussian kernel as the others and their prior is in p(theta), so the
weights above stay exact with no discrete kernel for them.

Every candidate has its own key, fold_in(fold_in(key, generation), index), and a
generation keeps the first `population` accepted candidates in index order, so the result
does not depend on the chunk size. The run stops when epsilon reaches min_epsilon, after
max_generations, or when the simulation budget is spent; a generation cut short by the
budget is kept if it accepted at least half a population (its particles are a valid
importance sample of the tighter target), else the previous one is returned.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import log_expit, logsumexp

from vi_od.data.observations import Observations
from vi_od.inference import Method
from vi_od.inference import require_setting as _require
from vi_od.inference.abc import summary_distance
from vi_od.inference.posterior import Posterior, align_draws, make_posterior
from vi_od.models import Model
from vi_od.progress import task

SIMULATORS = ("deterministic", "stochastic")
ROLE_PRIORS = ("share", "bernoulli")


@dataclass(frozen=True)
class Settings:
    """conf/method/abc-smc.yaml."""

    simulations: int = 15000
    population: int = 500
    max_generations: int = 40
    threshold_factor: float = 1.0
    quantile: float = 0.5
    kernel_scale: float = 2.0
    role_redraw: float = 1.0
    role_prior: str = "share"
    simulator: str = "deterministic"
    chunk_size: int = 1000

    def validate(self) -> Settings:
        """Raise ViOdError naming the first bad key and what it may be."""
        _require(self.population >= 10, "population", self.population, "an integer >= 10")
        _require(
            self.simulations >= self.population,
            "simulations",
            self.simulations,
            f"an integer >= method.population = {self.population}",
        )
        _require(self.max_generations >= 1, "max_generations", self.max_generations, ">= 1")
        _require(self.threshold_factor >= 0, "threshold_factor", self.threshold_factor, ">= 0")
        _require(0 < self.quantile < 1, "quantile", self.quantile, "in (0, 1)")
        _require(self.kernel_scale > 0, "kernel_scale", self.kernel_scale, "> 0")
        _require(0 < self.role_redraw <= 1, "role_redraw", self.role_redraw, "in (0, 1]")
        _require(
            self.role_prior in ROLE_PRIORS, "role_prior", self.role_prior, " or ".join(ROLE_PRIORS)
        )
        _require(self.simulator in SIMULATORS, "simulator", self.simulator, " or ".join(SIMULATORS))
        _require(self.chunk_size >= 1, "chunk_size", self.chunk_size, "an integer >= 1")
        return self


# --- the generic SMC-ABC core -------------------------------------------------------------


class Problem(NamedTuple):
    """What SMC-ABC needs from a model: pure functions of arrays (static under jit).

    `data` is any pytree the functions read (the observed trace); it is passed, not closed
    over, so one compiled program serves every trace of the same shape.
    """

    sample_prior: Callable  # (key, data) -> theta (d,)
    log_prior: Callable  # (theta (n, d) float64 numpy) -> (n,) log density of theta
    binary_logits: Callable  # (theta (d,), data) -> (m,) logit P(z_u = 1 | theta)
    distance: Callable  # (key, theta (d,), z (m,) int32, data) -> () distance to the data


class Population(NamedTuple):
    """One generation's particles, their normalised weights and distances."""

    theta: np.ndarray  # (P, d)
    z: np.ndarray  # (P, m) int8
    weights: np.ndarray  # (P,)
    distances: np.ndarray  # (P,)


class Generation(NamedTuple):
    """What one generation did (the fit record's per-generation lists)."""

    epsilon: float
    simulations: int
    accepted: int
    ess: float


class SMCResult(NamedTuple):
    """The final population, the generations' records and why the run stopped."""

    population: Population
    generations: list[Generation]  # the kept ones; the last made `population`
    dropped: Generation | None  # a generation the budget cut short below half a population
    simulations: int
    stopped: str  # "min_epsilon" | "budget" | "max_generations"


def _particle(problem: Problem, key, from_prior, theta_pop, z_pop, cdf, chol, redraw, data):
    """One candidate: a prior draw (generation 0) or a moved parent, and its distance."""
    k_parent, k_theta, k_keep, k_z, k_sim = jax.random.split(key, 5)
    parent = jnp.searchsorted(cdf, jax.random.uniform(k_parent) * cdf[-1], side="right")
    parent = jnp.minimum(parent, cdf.shape[0] - 1)
    step = jax.random.normal(k_theta, (chol.shape[0],))
    # explicit sum, not a matmul: vmapped matmuls may round differently per batch size
    moved = theta_pop[parent] + jnp.sum(chol * step[None, :], axis=1)
    theta = jnp.where(from_prior, problem.sample_prior(k_theta, data), moved)
    logits = problem.binary_logits(theta, data)
    fresh = jax.random.bernoulli(k_z, jax.nn.sigmoid(logits)).astype(jnp.int32)
    keep = (jax.random.uniform(k_keep, logits.shape) >= redraw) & ~from_prior
    z = jnp.where(keep, z_pop[parent].astype(jnp.int32), fresh)
    return theta, z, problem.distance(k_sim, theta, z, data)


@partial(jax.jit, static_argnums=0)
def _chunk(problem: Problem, keys, from_prior, theta_pop, z_pop, cdf, chol, redraw, data):
    """Candidates of a batch of keys; one program for every generation (one compile)."""
    particle = jax.vmap(partial(_particle, problem), in_axes=(0,) + (None,) * 7)
    theta, z, dist = particle(keys, from_prior, theta_pop, z_pop, cdf, chol, redraw, data)
    return theta, z.astype(jnp.int8), dist


def candidate_keys(key, generation: int, start: int, size: int):
    """Keys of candidates start .. start+size-1 of a generation: fold_in(generation, index)."""
    gen_key = jax.random.fold_in(key, generation)
    return jax.vmap(lambda i: jax.random.fold_in(gen_key, i))(jnp.arange(start, start + size))


def _run_generation(simulate_chunk, key, generation, epsilon, wanted, budget, size, advance):
    """Candidates in index order until `wanted` are within epsilon or `budget` are spent.

    Returns the accepted (theta, z, distances) and the candidates counted: up to the last
    accepted one needed, or the whole budget. Every chunk has `size` candidates (one
    compile); a chunk's tail past the count is computed and dropped.
    """
    parts, accepted, start = [], 0, 0
    while accepted < wanted and start < budget:
        keys = candidate_keys(key, generation, start, size)
        theta, z, dist = jax.device_get(simulate_chunk(keys))
        n = min(size, budget - start)
        ok = np.flatnonzero(dist[:n] <= epsilon)[: wanted - accepted]
        parts.append((theta[ok], z[ok], dist[ok]))
        accepted += ok.size
        counted = int(ok[-1]) + 1 if accepted == wanted else n
        start += counted
        advance(counted, generation=generation, epsilon=float(epsilon), accepted=accepted)
    theta, z, dist = (np.concatenate(x) for x in zip(*parts))
    return theta.astype(np.float64), z, dist.astype(np.float64), start


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value v with (total weight of values <= v) >= q."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cum, q * cum[-1]), values.size - 1)])


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's ESS of normalised weights."""
    return float(1.0 / np.sum(weights**2))


def kernel_cholesky(pop: Population, scale: float) -> np.ndarray:
    """Cholesky factor of scale x the weighted covariance (a tiny jitter if it is singular)."""
    centred = pop.theta - pop.weights @ pop.theta
    cov = scale * (centred.T * pop.weights) @ centred
    jitter = 1e-10 * (np.trace(cov) / cov.shape[0] + 1e-12)
    return np.linalg.cholesky(cov + jitter * np.eye(cov.shape[0]))


def importance_log_weights(
    problem: Problem, theta, z, prev: Population, chol, redraw: float, data
) -> np.ndarray:
    """log [p(theta, z) / sum_j w_j K(theta | theta_j) R(z | z_j, theta)] (unnormalised).

    See the module docstring; with redraw = 1 the z terms cancel exactly and are skipped.
    """
    solve = lambda x: np.linalg.solve(chol, x.T).T  # whitened: K is N(0, I) in these units
    a, b = solve(theta), solve(prev.theta)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    log_k = -0.5 * np.maximum(sq, 0.0)  # the constants of K cancel on normalisation
    log_target = problem.log_prior(theta)
    if redraw < 1:
        logits = jax.vmap(problem.binary_logits, in_axes=(0, None))(theta, data)
        logits = np.asarray(logits, np.float64)
        zf = z.astype(np.float64)
        log_p = np.where(zf == 1, log_expit(logits), log_expit(-logits))  # log p(z_u | theta)
        same = np.logaddexp(np.log1p(-redraw), np.log(redraw) + log_p)  # z_u = parent's
        differ = np.log(redraw) + log_p  # z_u redrawn to the other value
        gain = same - differ
        zj = prev.z.astype(np.float64)
        log_r = differ.sum(1)[:, None] + (gain * zf) @ zj.T + (gain * (1 - zf)) @ (1 - zj).T
        log_k = log_k + log_r
        log_target = log_target + log_p.sum(1)
    return log_target - logsumexp(log_k + np.log(prev.weights)[None, :], axis=1)


def _normalise(log_w: np.ndarray) -> np.ndarray:
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def _device(pop: Population, chol: np.ndarray) -> dict:
    """A population and kernel as the arrays `_chunk` takes (float32 on the device)."""
    return {
        "theta_pop": jnp.asarray(pop.theta, jnp.float32),
        "z_pop": jnp.asarray(pop.z),
        "cdf": jnp.asarray(np.cumsum(pop.weights), jnp.float32),
        "chol": jnp.asarray(chol, jnp.float32),
    }


def smc_abc(
    key,
    problem: Problem,
    data,
    *,
    population: int,
    simulations: int,
    min_epsilon: float,
    quantile: float = 0.5,
    kernel_scale: float = 2.0,
    redraw: float = 1.0,
    max_generations: int = 40,
    chunk_size: int = 1000,
    advance: Callable[..., None] = lambda n=1, **fields: None,
) -> SMCResult:
    """Population Monte Carlo ABC under a simulation budget (see the module docstring)."""
    size = min(chunk_size, simulations)
    run = partial(_run_generation, key=key, wanted=population, size=size, advance=advance)
    # generation 0 runs the same program on a placeholder population of the right shapes
    theta0 = jax.eval_shape(problem.sample_prior, key, data)
    m = jax.eval_shape(problem.binary_logits, theta0, data).shape[0]
    pop = Population(
        np.zeros((population, theta0.shape[0])),
        np.zeros((population, m), np.int8),
        np.full(population, 1.0 / population),
        np.zeros(population),
    )
    chunk = partial(_chunk, problem, data=data, redraw=jnp.float32(redraw))
    from_prior = partial(chunk, from_prior=True, **_device(pop, np.eye(theta0.shape[0])))
    theta, z, dist, total = run(from_prior, generation=0, epsilon=np.inf, budget=population)
    pop = pop._replace(theta=theta, z=z, distances=dist)
    # generation 0 accepts every prior draw: its epsilon is its largest distance
    history = [Generation(float(dist.max()), total, population, float(population))]
    dropped = None
    for generation in range(1, max_generations):
        if history[-1].epsilon <= min_epsilon or total >= simulations:
            break
        epsilon = max(min_epsilon, weighted_quantile(pop.distances, pop.weights, quantile))
        chol = kernel_cholesky(pop, kernel_scale)
        moved_chunk = partial(chunk, from_prior=False, **_device(pop, chol))
        theta, z, dist, used = run(
            moved_chunk, generation=generation, epsilon=epsilon, budget=simulations - total
        )
        total += used
        if theta.shape[0] < max(population // 2, 2):  # the budget ran out early in it
            dropped = Generation(epsilon, used, theta.shape[0], 0.0)
            break
        weights = _normalise(importance_log_weights(problem, theta, z, pop, chol, redraw, data))
        pop = Population(theta, z, weights, dist)
        history.append(Generation(epsilon, used, theta.shape[0], effective_sample_size(weights)))
    if history[-1].epsilon <= min_epsilon:
        stopped = "min_epsilon"
    elif total >= simulations:
        stopped = "budget"
    else:
        stopped = "max_generations"
    return SMCResult(pop, history, dropped, total, stopped)


def systematic_resample(key, weights: np.ndarray, n: int) -> np.ndarray:
    """n indices drawn by weight with one uniform (lower variance than multinomial)."""
    u = (float(jax.random.uniform(key)) + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(weights), u * weights.sum()), weights.size - 1)


# --- a model's problem: prior, roles and distance ---------------------------------------


def _simulated(model: Model, theta, roles, obs):
    """The parameters and latents a particle simulates with: from_theta of its first P
    thetas; its binary latents, then those its extra thetas give."""
    P, sim = model.n_params, model.simulator
    z = sim.latents(roles, theta[P : P + sim.extra_thetas], obs)
    return model.from_theta(theta[:P]), z


def _distance_stochastic(model: Model, key, theta, roles, obs):
    params, z = _simulated(model, theta, roles, obs)
    return summary_distance(model.simulator.counts(key, params, z, obs), obs)


def _distance_deterministic(model: Model, key, theta, roles, obs):
    params, z = _simulated(model, theta, roles, obs)
    return summary_distance(model.simulator.rule_counts(params, z, obs), obs)


def _sample_prior_bernoulli(P: int, key, obs):
    return jax.random.normal(key, (P,))


def _log_prior_bernoulli(theta: np.ndarray) -> np.ndarray:
    return -0.5 * np.sum(theta**2, axis=1)


def _logits_bernoulli(model: Model, theta, obs):
    return jnp.zeros(model.simulator.binary(obs))


def _sample_prior_share(P: int, key, obs):
    k_eps, k_share = jax.random.split(key)
    return jnp.concatenate([jax.random.normal(k_eps, (P,)), jax.random.logistic(k_share, (1,))])


def _log_prior_share(theta: np.ndarray) -> np.ndarray:
    """N(0, 1) on the parameters' thetas; logit(pi) = theta[-1] ~ Logistic(0, 1), i.e.
    pi ~ Uniform(0, 1)."""
    share = theta[:, -1]
    return -0.5 * np.sum(theta[:, :-1] ** 2, axis=1) + log_expit(share) + log_expit(-share)


def _logits_share(model: Model, theta, obs):
    return jnp.full(model.simulator.binary(obs), theta[-1])


_DISTANCES = {"stochastic": _distance_stochastic, "deterministic": _distance_deterministic}
_PRIORS = {
    "bernoulli": (_sample_prior_bernoulli, _log_prior_bernoulli, _logits_bernoulli),
    "share": (_sample_prior_share, _log_prior_share, _logits_share),
}


@functools.cache  # one Problem per (model, options): its functions key the compiled programs
def model_problem(model: Model, role_prior: str, simulator: str) -> Problem:
    """The paper's ABC problem for a model: theta ~ N(0, 1)^P through the model's
    `from_theta` (and the simulator's extra thetas, N(0, 1) too), a binary role per agent,
    distance between per-step count summaries.

    role_prior "bernoulli": each role Bernoulli(1/2) (the paper's); "share": a leader share
    pi ~ Uniform(0, 1) (theta[P] = logit pi), roles Bernoulli(pi) given it.
    """
    sample, log_prior, logits = _PRIORS[role_prior]
    distance = partial(_DISTANCES[simulator], model)
    d = model.n_params + model.simulator.extra_thetas
    return Problem(partial(sample, d), log_prior, partial(logits, model), distance)


def fit(data: Observations, settings: Settings, key, model: Model) -> Posterior:
    """SMC-ABC; estimates from the final population, every particle's labels aligned."""
    obs = model.simulator.observe(data)
    problem = model_problem(model, settings.role_prior, settings.simulator)
    k_run, k_pick = jax.random.split(key)
    min_epsilon = settings.threshold_factor * float(np.sqrt(obs.summary.shape[0] + 1))
    with task("ABC-SMC", total=settings.simulations, unit="simulations") as advance:
        result = smc_abc(
            k_run,
            problem,
            obs,
            population=settings.population,
            simulations=settings.simulations,
            min_epsilon=min_epsilon,
            quantile=settings.quantile,
            kernel_scale=settings.kernel_scale,
            redraw=settings.role_redraw,
            max_generations=settings.max_generations,
            chunk_size=settings.chunk_size,
            advance=advance,
        )
    pop = result.population
    eps = np.asarray(model.from_theta(jnp.asarray(pop.theta[:, : model.n_params])), np.float64)
    pick = systematic_resample(k_pick, pop.weights, pop.weights.size)
    info = _info(result, min_epsilon, pop)
    if not model.has_agents:  # the latents are the model's global ones
        params = np.concatenate([eps, _latents(model, pop, obs)], axis=1)[pick]
        return make_posterior("abc-smc", params, None, info=info, draws={"params": params[None]},
                              model=model)  # fmt: skip
    flip = pop.z.sum(axis=1) > data.N / 2
    eps, roles = align_draws(eps, pop.z, model.swap)
    p_leader = pop.weights @ roles.astype(np.float64)
    if settings.role_prior == "share":
        share = 1.0 / (1.0 + np.exp(-pop.theta[:, -1]))
        info["leader_proportion"] = float(pop.weights @ np.where(flip, 1 - share, share))
    draws = {"params": eps[pick][None], "roles": roles[pick][None]}
    std = np.sqrt(p_leader * (1 - p_leader))
    return make_posterior("abc-smc", eps[pick], p_leader, std, info=info, draws=draws, model=model)


def _latents(model: Model, pop: Population, obs) -> np.ndarray:
    """(particles, m) each particle's latents as its simulation ran with them."""
    sim = model.simulator
    if sim.latents_from_theta is None:
        return pop.z.astype(np.float64)
    P = model.n_params
    extra = jnp.asarray(pop.theta[:, P : P + sim.extra_thetas], jnp.float32)  # as simulated
    z = jax.vmap(sim.latents, in_axes=(0, 0, None))(jnp.asarray(pop.z), extra, obs)
    return np.asarray(z, np.float64)


def _info(result: SMCResult, min_epsilon: float, pop: Population) -> dict[str, Any]:
    """The fit record's account of the generations."""
    return {
        "simulations": result.simulations,
        "generations": len(result.generations),
        "stopped": result.stopped,
        "min_epsilon": min_epsilon,
        "final_epsilon": result.generations[-1].epsilon,
        "epsilons": [g.epsilon for g in result.generations],
        "simulations_per_generation": [g.simulations for g in result.generations],
        "acceptance_rates": [g.accepted / g.simulations for g in result.generations],
        "ess": [g.ess for g in result.generations],
        "final_ess": effective_sample_size(pop.weights),
        "dropped_generation": None
        if result.dropped is None
        else {k: v for k, v in result.dropped._asdict().items() if k != "ess"},
    }


METHODS = {"abc-smc": Method("abc-smc", fit, Settings, "simulator")}
