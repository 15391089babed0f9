"""Rejection ABC, the paper's simulation-based baseline (docs/models/bcm-roles.md), made fast.

Every simulation draws (eps, roles) from the prior (theta ~ N(0, 1) through the model's
`from_theta`, roles Bernoulli(1/2) per agent; a model's other discrete latents, such as a
feed's k, from its extra N(0, 1) thetas: `Simulator.latents_from_theta`), replays the
observed X0 and pairs (u, v) with the model's count-only simulator (`model.simulator`), and
is summarised by the per-step numbers of positive and of negative interactions. Candidates
closer than threshold_factor * sqrt(T) (L2) are kept.
Simulations run in vmapped chunks; each has its own key from split(key, simulations), so
the result does not depend on the chunk size.

An event log has no dense X0 or steps of E pairs: the BCM's simulator replays it
(vi_od.models.bcm_roles.forward.replay), one step per distinct time padded to the busiest,
from each agent's first known opinion. On a log written from a trace this is the trace's
own simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.inference import Method
from vi_od.inference import require_setting as _require
from vi_od.inference.loop import run_chunked
from vi_od.inference.posterior import Posterior, align_draws, make_posterior
from vi_od.models import Model
from vi_od.progress import task


@dataclass(frozen=True)
class Settings:
    """conf/method/abc.yaml: the paper's published runs used 15000 simulations."""

    simulations: int = 15000
    threshold_factor: float = 5.0
    min_accepted: int = 100
    chunk_size: int = 1000
    align_labels: bool = True

    def validate(self) -> Settings:
        """Raise ViOdError naming the first bad key and what it may be."""
        _require(self.simulations >= 1, "simulations", self.simulations, "an integer >= 1")
        _require(self.threshold_factor > 0, "threshold_factor", self.threshold_factor, "> 0")
        _require(
            1 <= self.min_accepted <= self.simulations,
            "min_accepted",
            self.min_accepted,
            f"between 1 and method.simulations = {self.simulations}",
        )
        _require(self.chunk_size >= 1, "chunk_size", self.chunk_size, "an integer >= 1")
        _require(
            isinstance(self.align_labels, bool), "align_labels", self.align_labels, "true or false"
        )
        return self


def prior_draw(key, m: int, model: Model, obs=None):
    """(params (P,), latents z int32, outcome key) of one simulation, from its own key:
    theta ~ N(0, 1)^(P + extra) through the model's transform, each of the m binary latents
    Bernoulli(1/2), then the latents the extra thetas give (`Simulator.latents`)."""
    k_theta, k_roles, k_out = jax.random.split(key, 3)
    sim, P = model.simulator, model.n_params
    theta = jax.random.normal(k_theta, (P + sim.extra_thetas,))
    eps = model.from_theta(theta[:P])
    roles = jax.random.bernoulli(k_roles, 0.5, (m,)).astype(jnp.int32)
    return eps, sim.latents(roles, theta[P:], obs), k_out


def summary_distance(counts, obs) -> jax.Array:
    """L2 distance between a simulation's per-step counts (K arrays) and the observed ones."""
    diff = jnp.stack(counts, axis=1) - obs.summary  # integers: exact 0 if equal
    return jnp.sqrt(jnp.sum(diff * diff).astype(jnp.float32))


def distance(eps, roles, out_key, obs, model: Model) -> jax.Array:
    """L2 distance between the summaries of one simulation and of the observed trace."""
    return summary_distance(model.simulator.counts(out_key, eps, roles, obs), obs)


@partial(jax.jit, static_argnums=4)
def distances(eps, roles, out_keys, obs, model: Model):
    """`distance` of a batch of simulations."""
    return jax.vmap(partial(distance, model=model), in_axes=(0, 0, 0, None))(
        eps, roles, out_keys, obs
    )


def latent_dtype(model: Model):
    """How kept latents are stored: binary ones in int8 (N roles per simulation), derived
    ones (a k up to F) in int32."""
    return jnp.int8 if model.simulator.latents_from_theta is None else jnp.int32


@partial(jax.jit, static_argnums=2)
def simulate_chunk(keys, obs, model: Model):
    """Prior draws and their distances for a batch of simulation keys."""
    draw = partial(prior_draw, m=model.simulator.binary(obs), model=model, obs=obs)
    eps, roles, out_keys = jax.vmap(draw)(keys)
    return eps, roles.astype(latent_dtype(model)), distances(eps, roles, out_keys, obs, model)


def run_simulations(keys, obs, model: Model, chunk_size: int, threshold: float, advance):
    """All simulations in chunks of chunk_size (the last one padded, so one compile)."""
    total = keys.shape[0]
    size = min(chunk_size, total)
    accepted = 0

    def run(state, start: int, n: int):
        chunk = keys[start : start + n]
        if n < size:
            chunk = jnp.concatenate([chunk, jnp.repeat(chunk[:1], size - n, axis=0)])
        return state, tuple(x[:n] for x in jax.device_get(simulate_chunk(chunk, obs, model)))

    def count_accepted(start: int, n: int, part) -> dict:
        nonlocal accepted
        accepted += int((part[2] < threshold).sum())
        return {"accepted": accepted}

    _, parts = run_chunked(run, None, total, size, advance, count_accepted)
    eps, roles, dist = (np.concatenate(x) for x in zip(*parts))
    return eps, roles, dist


def select(dist: np.ndarray, threshold: float, min_accepted: int) -> tuple[np.ndarray, bool]:
    """Indices of the accepted (distance < threshold), or of the min_accepted closest."""
    accepted = np.flatnonzero(dist < threshold)
    if accepted.size >= min_accepted:
        return accepted, False
    return np.sort(np.argsort(dist, kind="stable")[:min_accepted]), True


def fit(obs: Observations, settings: Settings, key, model: Model) -> Posterior:
    """Rejection ABC; estimates: mean eps and mean role of the kept simulations."""
    observed = model.simulator.observe(obs)
    keys = jax.random.split(key, settings.simulations)
    threshold = settings.threshold_factor * float(np.sqrt(observed.summary.shape[0] + 1))
    with task("ABC", total=settings.simulations, unit="simulations") as advance:
        eps, roles, dist = run_simulations(
            keys, observed, model, settings.chunk_size, threshold, advance
        )
    keep, kept_closest = select(dist, threshold, settings.min_accepted)
    accepted = int((dist < threshold).sum())
    info = {
        "simulations": settings.simulations,
        "accepted": accepted,
        "acceptance_rate": accepted / settings.simulations,
        "threshold": threshold,
        "threshold_used": float(dist[keep].max()) if kept_closest else threshold,
        "kept_closest": kept_closest,
        "kept": int(keep.size),
        "min_distance": float(dist.min()),
    }
    eps, roles = eps[keep], roles[keep]
    if not model.has_agents:  # the latents are the model's global ones
        params = np.concatenate([eps, roles.astype(eps.dtype)], axis=1)
        return make_posterior("abc", params, None, info=info, draws={"params": params[None]},
                              model=model)  # fmt: skip
    if settings.align_labels:
        eps, roles = align_draws(eps, roles, model.swap)
    p = roles.astype(np.float64)
    draws = {"params": eps[None], "roles": roles[None]}  # one "chain" of kept draws
    p_leader, p_std = p.mean(axis=0), p.std(axis=0)
    return make_posterior("abc", eps, p_leader, p_std, info=info, draws=draws, model=model)


METHODS = {"abc": Method("abc", fit, Settings, "simulator")}
