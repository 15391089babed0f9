"""Exact role marginalization: NUTS and SVI on the collapsed PGABM (docs/methods/nuts-marginal.md).

The roles are summed out per agent (the model's collapsed form, `model.collapsed`; for the
BCM with roles models/bcm_roles/collapsed.py), leaving P + 1 continuous dimensions: theta
(P = 4 for the BCM: the paper's eps transform) and the leader proportion pi. The
posterior has two mirror-image modes (leaders and followers swapped); the prior on pi is
label-symmetric, so either mode is the posterior once each sample is relabelled (pi > 0.5
=> swap the L/F eps and use 1 - pi). P(leader) per agent is the average over samples of
the Bayes-rule role posterior; its std over samples is the uncertainty. The paper's
majority rule (make_posterior) stays as a safety net.

Both read each agent's log-likelihood from the per-agent table (`model.collapsed.table`):
one streamed O(interactions) pass, then O(N) per gradient whatever the receivers' skew.
The data always enter the compiled functions as arguments, never as closed-over
constants: at 10^5 agents the table is hundreds of MB.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.example_libraries.optimizers import exponential_decay
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import NUTS, SVI, Trace_ELBO, init_to_value
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from numpyro.optim import Adam
from scipy.special import betaincinv

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.inference import Method
from vi_od.inference import require_setting as _require
from vi_od.inference.loop import run_chunked
from vi_od.inference.posterior import Posterior, label_switched, make_posterior
from vi_od.models import Model
from vi_od.progress import task

# The guide starts narrow: below the posterior's width the ELBO's pull on the scale is
# steady and nearly noise-free, so the scale grows to it in a few hundred steps; from
# above (numpyro's default 0.1) the pull is noisy and took ~10000 steps at T=8192.
INIT_SCALE = 0.001
# Chosen by measurement on 19 cells of the paper's grid (every fourth cell, one rep): the
# two guides gave the same eps RMSE (0.031 / 0.030), role error (0.034), Brier (0.029 /
# 0.030) and time (8.9 / 8.4 s, loaded machine); the multivariate normal's posterior sds
# are closer to NUTS's (median ratio 0.98 vs 0.97) and it keeps the eps-pi correlations.
GUIDES = {
    "multivariate-normal": AutoMultivariateNormal,
    "normal": AutoNormal,
}


def _validate_pi(settings) -> None:
    """pi_prior = [a, b] with a, b > 0; pi_fixed = null (learn pi) or a number in (0, 0.5]."""
    prior = settings.pi_prior
    _require(
        isinstance(prior, list | tuple) and len(prior) == 2 and all(float(c) > 0 for c in prior),
        "pi_prior",
        prior,
        "two numbers [a, b] > 0 (pi ~ Beta(a, b))",
    )
    fixed = settings.pi_fixed
    _require(fixed is None or 0 < fixed <= 0.5, "pi_fixed", fixed, "null (learn pi) or in (0, 0.5]")


@dataclass(frozen=True)
class NutsSettings:
    """conf/method/nuts-marginal.yaml."""

    warmup: int = 500
    samples: int = 500
    chains: int = 1
    target_accept: float = 0.8
    max_tree_depth: int = 8
    pi_prior: tuple[float, float] = (1.0, 4.0)
    pi_fixed: float | None = None

    def validate(self) -> NutsSettings:
        _require(self.warmup >= 1, "warmup", self.warmup, "an integer >= 1")
        _require(self.samples >= 4, "samples", self.samples, "an integer >= 4")
        _require(self.chains >= 1, "chains", self.chains, "an integer >= 1")
        _require(0 < self.target_accept < 1, "target_accept", self.target_accept, "in (0, 1)")
        depth = self.max_tree_depth
        _require(1 <= depth <= 15, "max_tree_depth", depth, "an integer in [1, 15]")
        _validate_pi(self)
        return dataclasses.replace(self, pi_prior=tuple(float(c) for c in self.pi_prior))


@dataclass(frozen=True)
class SviSettings:
    """conf/method/svi-marginal.yaml."""

    steps: int = 2000
    lr: float = 0.05
    lr_decay: float = 0.05
    guide: str = "multivariate-normal"
    num_samples: int = 500
    pi_prior: tuple[float, float] = (1.0, 4.0)
    pi_fixed: float | None = None

    def validate(self) -> SviSettings:
        _require(self.steps >= 1, "steps", self.steps, "an integer >= 1")
        _require(self.lr > 0, "lr", self.lr, "> 0")
        _require(0 < self.lr_decay <= 1, "lr_decay", self.lr_decay, "in (0, 1]")
        _require(self.guide in GUIDES, "guide", self.guide, f"one of {', '.join(GUIDES)}")
        _require(self.num_samples >= 1, "num_samples", self.num_samples, "an integer >= 1")
        _validate_pi(self)
        return dataclasses.replace(self, pi_prior=tuple(float(c) for c in self.pi_prior))


def relabel(
    eps: np.ndarray, pi: np.ndarray, swap: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: pi > 0.5 means leaders and followers swapped; swap eps and use 1 - pi."""
    eps = np.asarray(eps, np.float64)
    pi = np.asarray(pi, np.float64)
    swapped = pi > 0.5
    eps = np.where(swapped[..., None], eps[..., list(swap)], eps)
    return eps, np.where(swapped, 1 - pi, pi)


def role_posterior(model: Model, eps: np.ndarray, pi: np.ndarray, data):
    """Mean and std over samples (S, P), (S,) of each agent's P(leader | eps, pi, s)."""
    eps, pi = jnp.asarray(eps, jnp.float32), jnp.asarray(pi, jnp.float32)
    mean, std = _role_moments(model, eps, pi, data)
    return np.asarray(mean, np.float64), np.asarray(std, np.float64)


@partial(jax.jit, static_argnums=0)
def _role_moments(model: Model, eps: jax.Array, pi: jax.Array, data):
    """(N,) mean and std of P(leader) over the samples, accumulated one sample at a time.

    Never (S, N): 500 samples of 10^5 agents would be 200 MB. Sums are taken around the
    first sample's probabilities, so that a std near 0 does not cancel away in float32.
    """
    leader_probability = model.collapsed.leader_probability
    first = leader_probability(eps[0], pi[0], data)

    def add(sums, sample):
        d = leader_probability(sample[0], sample[1], data) - first
        return (sums[0] + d, sums[1] + d * d), None

    zeros = jnp.zeros_like(first)
    (total, squares), _ = jax.lax.scan(add, (zeros, zeros), (eps, pi))
    shift = total / eps.shape[0]
    return first + shift, jnp.sqrt(jnp.maximum(squares / eps.shape[0] - shift**2, 0.0))


def _chunk(*lengths: int, limit: int) -> int:
    """The largest chunk <= limit dividing every length: one compiled loop serves them all."""
    g = math.gcd(*lengths)
    return max(d for d in range(1, min(g, limit) + 1) if g % d == 0)


def _model(settings, model: Model) -> partial:
    collapsed = model.collapsed.model
    return partial(collapsed, pi_prior=settings.pi_prior, pi_fixed=settings.pi_fixed)


def _prior_median(settings, model: Model, theta=None):
    """Start at the prior median: theta = 0 (eps mid-range) and pi at Beta(a, b)'s median.

    That is the median of the Beta(a, b) component (the label-symmetric mixture's own median
    is 1/2, a saddle between the two labellings). Computed, not estimated from prior draws
    (init_to_median): drawing from the Beta would compile a gamma sampler, seconds for nothing.
    """
    values = {"theta": jnp.zeros(model.n_params) if theta is None else theta}
    if model.has_agents and settings.pi_fixed is None:
        values["pi"] = jnp.asarray(betaincinv(*settings.pi_prior, 0.5), jnp.float32)
    return init_to_value(values=values)


def _posterior(method: str, model: Model, params, pi, data, info: dict, key) -> Posterior:
    """Relabel draws (chain, draw, ...), average role posteriors, apply the majority rule;
    draw the global discrete latents given each draw's parameters."""
    chains, draws, P = params.shape
    params = np.asarray(params, np.float64)
    if model.collapsed.complete is not None:  # the summed-out global latents, drawn back
        flat = model.collapsed.complete(key, jnp.asarray(params.reshape(-1, P)), data)
        params = np.asarray(flat, np.float64).reshape(chains, draws, -1)
    if not model.has_agents:
        post = make_posterior(method, params.reshape(-1, params.shape[-1]), None, info=info,
                              model=model)  # fmt: skip
        return dataclasses.replace(post, draws={"params": params})
    info = {**info, "relabelled": float(np.mean(pi > 0.5))}
    params, pi = relabel(params, pi, model.swap)
    p_leader, p_std = role_posterior(model, params.reshape(-1, P), pi.reshape(-1), data)
    post = make_posterior(method, params.reshape(-1, P), p_leader, p_std, info, model=model)
    if label_switched(p_leader):  # make_posterior flipped the labels
        pi = 1 - pi
    info = {**post.info, "leader_proportion": float(pi.mean())}
    draws_out = {"params": post.samples.reshape(chains, draws, P), "pi": pi}
    return dataclasses.replace(post, info=info, draws=draws_out)


def fit_nuts(obs: Observations, settings: NutsSettings, key: jax.Array, model: Model) -> Posterior:
    """NUTS on (theta, pi) from the prior median; chains one after another, one compile.

    Chains run in turn, not vectorised: with vmap every chain waits for the longest
    trajectory of the batch, which measured 2-3x slower per leapfrog step and compiled
    slower, even for one chain.
    """
    data = model.collapsed.table(obs)
    kernel = NUTS(
        _model(settings, model),
        target_accept_prob=settings.target_accept,
        max_tree_depth=settings.max_tree_depth,
        dense_mass=True,
        init_strategy=_prior_median(settings, model, _start(model, data)),
    )
    # Traced init (numpyro's parallel chains do the same): one compile, not one per eager op.
    init = jax.jit(lambda key, data: kernel.init(key, settings.warmup, None, (data,), {}))
    n = _chunk(settings.warmup, settings.samples, limit=50)

    @jax.jit
    def run(state, data):
        def step(s, _):
            s = kernel.sample(s, (data,), {})
            return s, (s.z, s.diverging, s.num_steps)

        return jax.lax.scan(step, state, length=n)

    chains = []
    total = settings.chains * (settings.warmup + settings.samples)
    with task("NUTS", total=total, unit="iterations") as advance:
        for chain_key in jax.random.split(key, settings.chains):
            run_chunk = lambda state, start, length: run(state, data)  # n iterations each
            iterations = settings.warmup + settings.samples
            _, outputs = run_chunked(run_chunk, init(chain_key, data), iterations, n, advance)
            chains.append(jax.tree.map(lambda *c: np.concatenate(c), *jax.device_get(outputs)))
    z, diverging, steps = jax.tree.map(lambda *c: np.stack(c), *chains)  # (chain, iteration)
    z = jax.tree.map(lambda x: x[:, settings.warmup :], z)
    constrain = jax.jit(lambda z, data: jax.vmap(jax.vmap(kernel.postprocess_fn((data,), {})))(z))
    sites = jax.device_get(constrain(z, data))
    pi = _pi(sites, settings, model, (settings.chains, settings.samples))
    info = {"warmup": settings.warmup, "samples": settings.samples, "chains": settings.chains,
            "divergences": int(diverging[:, settings.warmup :].sum()),
            "leapfrog_steps_warmup": float(steps[:, : settings.warmup].mean()),
            "leapfrog_steps": float(steps[:, settings.warmup :].mean())}  # fmt: skip
    k_complete = jax.random.fold_in(key, settings.chains)
    post = _posterior("nuts-marginal", model, np.asarray(sites["params"]), pi, data, info,
                      k_complete)  # fmt: skip
    diagnostics = _diagnostics(post.draws, model.param_names)
    return dataclasses.replace(post, info={**post.info, **diagnostics})


def _diagnostics(draws: dict, names: tuple[str, ...]) -> dict:
    """Split r_hat and ESS per continuous parameter, on the relabelled draws (pi only if
    learned)."""
    named = {name: draws["params"][..., i] for i, name in enumerate(names)}
    if "pi" in draws and np.ptp(draws["pi"]) > 0:
        named["pi"] = draws["pi"]
    return {
        "r_hat": {k: float(split_gelman_rubin(v)) for k, v in named.items()},
        "ess": {k: float(effective_sample_size(v)) for k, v in named.items()},
    }


def _start(model: Model, data):
    """The model's start for its data (None: the prior median)."""
    start = model.collapsed.start
    return None if start is None else jax.jit(start)(data)


def _svi(settings: SviSettings, model: Model, theta=None) -> SVI:
    """A fresh SVI on the collapsed model: Gaussian guide from the prior median (or the
    model's start), decaying Adam."""
    collapsed = _model(settings, model)
    guide = GUIDES[settings.guide](
        collapsed, init_loc_fn=_prior_median(settings, model, theta), init_scale=INIT_SCALE
    )
    # Adam's noise floor at a fixed rate biases the weakly identified pi; decay the rate.
    lr = exponential_decay(settings.lr, settings.steps, settings.lr_decay)
    return SVI(collapsed, guide, Adam(lr), Trace_ELBO())


def _ready(settings: SviSettings, model: Model, data) -> SVI:
    """An SVI whose guide is set up inside the current trace, bound to the traced data.

    A guide keeps a replay of the model bound to the data it was set up with, so every
    compiled function sets up its own (dead code once compiled) rather than closing over a
    table of hundreds of MB as a constant.
    """
    svi = _svi(settings, model)
    svi.init(jax.random.PRNGKey(0), data)
    return svi


@partial(jax.jit, static_argnums=(0, 1))
def _svi_init(settings: SviSettings, model: Model, key, data):
    start = model.collapsed.start
    return _svi(settings, model, None if start is None else start(data)).init(key, data)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _svi_chunk(settings: SviSettings, model: Model, n: int, state, data):
    svi = _ready(settings, model, data)
    return jax.lax.scan(lambda s, _: svi.update(s, data), state, length=n)


@partial(jax.jit, static_argnums=(0, 1))
def _svi_sample(settings: SviSettings, model: Model, key, state, data):
    svi = _ready(settings, model, data)
    params = svi.get_params(state)
    return svi.guide.sample_posterior(key, params, sample_shape=(settings.num_samples,))


def fit_svi(obs: Observations, settings: SviSettings, key: jax.Array, model: Model) -> Posterior:
    """SVI with a Gaussian guide on (theta, logit pi), Adam, one compiled loop per chunk."""
    data = model.collapsed.table(obs)
    key_init, key_sample = jax.random.split(key)
    state = _svi_init(settings, model, key_init, data)
    n = _chunk(settings.steps, limit=100)

    def stop_if_not_finite(start: int, length: int, loss) -> dict:
        loss = np.asarray(loss)
        if not np.isfinite(loss).all():
            raise ViOdError(
                f"svi-marginal: the loss is {loss[~np.isfinite(loss)][0]} at step "
                f"{start + int(np.argmin(np.isfinite(loss)))}; try a smaller method.lr "
                f"(now {settings.lr})"
            )
        return {"loss": float(loss.mean())}

    run_chunk = lambda state, start, length: _svi_chunk(settings, model, n, state, data)
    with task("SVI", total=settings.steps) as advance:
        state, losses = run_chunked(run_chunk, state, settings.steps, n, advance,
                                    stop_if_not_finite)  # fmt: skip
    losses = np.concatenate([np.asarray(loss) for loss in losses])
    sites = _svi_sample(settings, model, key_sample, state, data)
    params = np.asarray(sites["params"])[None]
    pi = _pi(sites, settings, model, (1, settings.num_samples))
    info = {"steps": settings.steps, "final_loss": float(losses[-min(100, losses.size) :].mean())}
    k_complete = jax.random.fold_in(key_sample, 1)
    return _posterior("svi-marginal", model, params, pi, data, info, k_complete)


def _pi(sites: dict, settings, model: Model, shape: tuple[int, int]) -> np.ndarray | None:
    """The leader share of every draw (learned or fixed); None without a latent per agent."""
    if not model.has_agents:
        return None
    return np.broadcast_to(np.asarray(sites.get("pi", settings.pi_fixed)), shape)


METHODS = {
    "nuts-marginal": Method("nuts-marginal", fit_nuts, NutsSettings, "collapsed"),
    "svi-marginal": Method("svi-marginal", fit_svi, SviSettings, "collapsed"),
}
