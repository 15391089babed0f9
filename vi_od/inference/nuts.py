"""NUTS on a model's relaxed form (the paper's relaxed model: its section 4).

The sampler is numpyro's NUTS kernel, driven here in jitted chunks of iterations instead
of `MCMC.run`, so that a rich progress bar can follow warmup and sampling and the data
are jit arguments (not constants baked into the program). By default the likelihood is
read from the model's per-agent table (`model.relaxed.table`, the same as SVI's), so a
leapfrog step costs O(N) instead of O(T E); `method.likelihood=exact` sums over every
interaction instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import NUTS, init_to_median, init_to_sample, init_to_uniform, init_to_value
from numpyro.util import is_prng_key

from vi_od.data.observations import Observations
from vi_od.inference import Method
from vi_od.inference import require_setting as _require
from vi_od.inference.loop import run_chunked
from vi_od.inference.posterior import Posterior, label_switched, make_posterior
from vi_od.models import Model
from vi_od.progress import task

LIKELIHOODS = ("table", "exact")
INIT = {"uniform": init_to_uniform, "median": init_to_median, "sample": init_to_sample}
# vmapped NUTS is ~4x slower per chain on CPU than one unbatched chain (batched gathers and
# while loops), so a single chain always runs unbatched.
CHAIN_METHODS = ("vectorized", "sequential")
CHUNK = 25  # iterations per jitted call: one progress-bar update


@dataclass(frozen=True)
class Settings:
    """conf/method/nuts.yaml: the paper's published runs used 800 warmup + 800 samples."""

    warmup: int = 800
    samples: int = 800
    chains: int = 1
    chain_method: str = "vectorized"
    target_accept: float = 0.8
    max_tree_depth: int = 10
    temperature: float = 0.1
    num_samples: int = 200
    init: str = "uniform"
    likelihood: str = "table"

    def validate(self) -> Settings:
        """Raise ViOdError naming the first bad key and what it may be."""
        _require(self.warmup >= 0, "warmup", self.warmup, "an integer >= 0")
        _require(self.samples >= 4, "samples", self.samples, "an integer >= 4 (for r_hat)")
        _require(self.chains >= 1, "chains", self.chains, "an integer >= 1")
        _require(
            self.chain_method in CHAIN_METHODS,
            "chain_method",
            self.chain_method,
            f"one of {', '.join(CHAIN_METHODS)}",
        )
        _require(0 < self.target_accept < 1, "target_accept", self.target_accept, "in (0, 1)")
        _require(1 <= self.max_tree_depth <= 15, "max_tree_depth", self.max_tree_depth, "1..15")
        _require(self.temperature > 0, "temperature", self.temperature, "> 0")
        draws = self.chains * self.samples
        _require(
            1 <= self.num_samples <= draws,
            "num_samples",
            self.num_samples,
            f"between 1 and chains * samples = {draws}",
        )
        _require(self.init in INIT, "init", self.init, f"one of {', '.join(INIT)}")
        _require(
            self.likelihood in LIKELIHOODS,
            "likelihood",
            self.likelihood,
            f"one of {', '.join(LIKELIHOODS)}",
        )
        return self


def model_and_args(obs: Observations, settings: Settings, model: Model) -> tuple[Callable, tuple]:
    """The relaxed model and its data arguments, tabulated or exact as the settings say."""
    if settings.likelihood == "table":
        relaxed = partial(model.relaxed.model, temperature=settings.temperature)
        return relaxed, (model.relaxed.table(obs),)
    relaxed, arrays = model.relaxed.exact(obs)
    return partial(relaxed, temperature=settings.temperature), (arrays,)


def make_kernel(model: Callable, settings: Settings, start: dict | None = None) -> NUTS:
    """numpyro's NUTS on the model, with the settings' adaptation target and depth, from the
    model's start values (Relaxed.start) where it has them, else by `settings.init`."""
    return NUTS(
        model,
        target_accept_prob=settings.target_accept,
        max_tree_depth=settings.max_tree_depth,
        init_strategy=INIT[settings.init] if start is None else init_to_value(values=start),
    )


def _chunk_runner(kernel: NUTS, model_args: tuple, vectorized: bool, unpack: Callable):
    """A jitted `run(state, n) -> (state, record)` doing n <= CHUNK NUTS iterations.

    The record holds the parameters, the per-agent latents (if the model has them) and the
    sampler's per-iteration statistics with a leading axis of CHUNK; only the first n rows
    are filled. One compile serves every chunk.
    """
    sample = kernel.sample  # numpyro vmaps it itself when init gets a batch of keys
    constrain = kernel.postprocess_fn(model_args, {})
    if vectorized:
        constrain = jax.vmap(constrain)

    def record(state):
        params, roles = unpack(constrain(state.z))
        return {
            "params": params,
            **({} if roles is None else {"roles": roles}),
            "diverging": state.diverging,
            "num_steps": state.num_steps,
            "accept_prob": state.accept_prob,
            "step_size": state.adapt_state.step_size,
        }

    def run(state, n, args):
        first = record(state)
        buffer = jax.tree.map(lambda x: jnp.zeros((CHUNK, *x.shape), x.dtype), first)

        def body(i, carry):
            state, buffer = carry
            state = sample(state, args, {})
            buffer = jax.tree.map(lambda b, x: b.at[i].set(x), buffer, record(state))
            return state, buffer

        return jax.lax.fori_loop(0, n, body, (state, buffer))

    jitted = jax.jit(run)
    return lambda state, n: jitted(state, n, model_args)


def run_chains(
    model, model_args: tuple, settings: Settings, keys, advance, unpack, start=None
) -> dict:
    """Warmup + sampling of one batch of chains (keys (C, 2), vectorized) or of one chain."""
    kernel = make_kernel(model, settings, start)
    vectorized = not is_prng_key(keys)
    n_chains = keys.shape[0] if vectorized else 1
    state = kernel.init(keys, settings.warmup, model_args=model_args)
    run = _chunk_runner(kernel, model_args, vectorized, unpack)
    records, divergences = [], 0

    def after(start, n, rec):
        nonlocal divergences
        rec = {k: np.asarray(x[:n]) for k, x in rec.items()}
        records.append(rec)
        divergences += int(rec["diverging"][max(settings.warmup - start, 0) :].sum())
        phase = "warmup" if start + n <= settings.warmup else "sampling"
        return {"phase": phase, "step": float(np.mean(rec["step_size"][-1])), "div": divergences}

    per_chain = lambda n, **fields: advance(n * n_chains, **fields)
    total = settings.warmup + settings.samples
    run_chunked(lambda s, start, n: run(s, n), state, total, CHUNK, per_chain, after)
    out = {k: np.concatenate([r[k] for r in records])[settings.warmup :] for k in records[0]}
    if not vectorized:  # give single chains the same (draw, chain, ...) layout
        out = {k: v[:, None] for k, v in out.items()}
    return {k: np.swapaxes(v, 0, 1) for k, v in out.items()}  # (chain, draw, ...)


def align_chains(
    eps: np.ndarray, roles: np.ndarray, swap: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's label rule per chain: a chain with more than half leaders swaps labels.

    Chains can settle in the two mirror modes (leaders <-> followers); pooling them
    unaligned would average the modes away.
    """
    eps, roles = eps.copy(), roles.copy()
    for c in range(eps.shape[0]):
        if label_switched(roles[c].mean(axis=0)):
            eps[c] = eps[c][:, list(swap)]
            roles[c] = 1.0 - roles[c]
    return eps, roles


def diagnostics(eps: np.ndarray, names: tuple[str, ...]) -> dict:
    """Split r_hat and effective sample size of each parameter, from draws (chain, draw, P)."""
    r_hat = split_gelman_rubin(eps)
    ess = effective_sample_size(eps)
    return {
        "r_hat": {n: float(x) for n, x in zip(names, r_hat)},
        "ess": {n: float(x) for n, x in zip(names, ess)},
    }


def thin(n_draws: int, num: int) -> np.ndarray:
    """num evenly spaced indices into n_draws pooled draws."""
    return np.round(np.linspace(0, n_draws - 1, num)).astype(int)


def fit(obs: Observations, settings: Settings, key, model: Model) -> Posterior:
    """NUTS on the relaxed model; estimates from num_samples draws thinned from all chains."""
    relaxed, model_args = model_and_args(obs, settings, model)
    start = None if model.relaxed.start is None else model.relaxed.start(obs)
    keys = jax.random.split(key, settings.chains)
    total = (settings.warmup + settings.samples) * settings.chains
    with task("NUTS", total=total, unit="iterations") as advance:
        if settings.chain_method == "vectorized" and settings.chains > 1:
            out = run_chains(relaxed, model_args, settings, keys, advance, model.relaxed.unpack,
                             start)  # fmt: skip
        else:
            parts = [run_chains(relaxed, model_args, settings, k, advance, model.relaxed.unpack,
                                start) for k in keys]  # fmt: skip
            out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    params = out["params"]
    if model.has_agents:
        params, roles = align_chains(params, out["roles"], model.swap)
    pooled = np.arange(params.shape[0] * params.shape[1])
    idx = pooled[thin(pooled.size, settings.num_samples)]
    params_s = params.reshape(-1, len(model.names))[idx]
    info = {
        "warmup": settings.warmup,
        "samples": settings.samples,
        "chains": settings.chains,
        "num_samples": settings.num_samples,
        "likelihood": settings.likelihood,
        "divergences": int(out["diverging"].sum()),
        **diagnostics(params, model.names),
        "step_size": float(out["step_size"][:, -1].mean()),
        "mean_leapfrog_steps": float(out["num_steps"].mean()),
        "mean_accept_prob": float(out["accept_prob"].mean()),
    }
    if not model.has_agents:
        return make_posterior("nuts", params_s, None, info=info, draws={"params": params},
                              model=model)  # fmt: skip
    roles_s = roles.reshape(-1, roles.shape[-1])[idx]
    draws = {"params": params, "roles": roles}
    p_leader, p_std = roles_s.mean(axis=0), roles_s.std(axis=0)
    return make_posterior("nuts", params_s, p_leader, p_std, info=info, draws=draws, model=model)


METHODS = {"nuts": Method("nuts", fit, Settings, "relaxed")}
