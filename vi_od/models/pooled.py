"""The BCM likelihood pooled over every agent: for models whose thresholds are shared by all.

With one eps+ and one eps- for everyone, log p(s | eps) = P(eps+) + Q(eps-), two functions of
one number each: the per-agent tables of the BCM with roles (`bcm_roles.relaxed`) with every
interaction given to one agent. Tabulated once, O(interactions); then every evaluation and
gradient is O(1), whatever the size of the log.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.models.bcm_roles.relaxed import (
    Interactions,
    LikelihoodTable,
    bernoulli_logit_loglik,
    grid_size,
    hermite_shared,
    likelihood_table,
)
from vi_od.models.pooled_settings import as_pair  # noqa: F401 (the models import it from here)


def pooled_table(abs_diff, s_plus, s_minus, rho: float) -> LikelihoodTable:
    """P and Q tabulated over [0, 1/2] and [1/2, 1], all interactions as one agent's."""
    abs_diff = jnp.asarray(abs_diff, jnp.float32)
    data = Interactions(
        abs_diff=abs_diff,
        receiver=jnp.zeros(abs_diff.shape, jnp.int32),
        s_plus=jnp.asarray(s_plus, jnp.float32),
        s_minus=jnp.asarray(s_minus, jnp.float32),
        N=1,
        rho=float(rho),
    )
    return likelihood_table(data)


def pooled_bytes(M: int, rho: float) -> float:
    """Peak memory of `pooled_table`: the interactions and their grouped copy (74 bytes each)."""
    return 74.0 * M + 56 * grid_size(rho)


def plus_part(table: LikelihoodTable, eps_plus) -> jax.Array:
    """P(eps+): the log-likelihood of every s+."""
    return hermite_shared(table.plus, eps_plus)[0][0]


def minus_part(table: LikelihoodTable, eps_minus) -> jax.Array:
    """Q(eps-): the log-likelihood of every s-."""
    return hermite_shared(table.minus, eps_minus)[0][0]


def exact_plus(eps_plus, abs_diff, s_plus, rho) -> jax.Array:
    """P(eps+) summed over the interactions (the reference the table is checked against)."""
    return jnp.sum(bernoulli_logit_loglik(rho * (eps_plus - abs_diff), s_plus))


def exact_minus(eps_minus, abs_diff, s_minus, rho) -> jax.Array:
    """Q(eps-) summed over the interactions."""
    return jnp.sum(bernoulli_logit_loglik(-rho * (eps_minus - abs_diff), s_minus))


def scatter_steps(X, u, v, delta):
    """X after adding each interaction's delta to its receiver (sums per receiver, as the
    journal's sparse updates), clipped to [0, 1]."""
    return jnp.clip(X.at[v].add(delta), 0.0, 1.0)


def uniform_grid_draw(rng: np.random.Generator, grid) -> float:
    """One value of a design grid, uniformly."""
    return float(rng.choice(np.asarray(grid)))


RHO_LOW, RHO_HIGH = 4.0, 256.0  # the prior's range of rho when it is learned (model.rho=learn)


def eps_from_theta(theta):
    """eps+ = sigmoid(theta_0) / 2, eps- = sigmoid(theta_1) / 2 + 1/2."""
    return jax.nn.sigmoid(theta) / 2 + jnp.array([0.0, 0.5])


SBC_STREAM = 0x5BC  # an SBC truth's random stream, apart from the simulator's (bcm_roles.sbc)


def sbc_start(settings_type, simulator: dict, seed: int):
    """(settings, rng) of an SBC run: the simulator's settings from the sweep's dict (lists
    as tuples) and the generator its prior draws come from."""
    settings = settings_type(**{k: tuple(v) if isinstance(v, list) else v
                                for k, v in simulator.items()}).validate()  # fmt: skip
    return settings, np.random.default_rng(np.random.SeedSequence([seed, SBC_STREAM]))


def rho_from_theta(theta):
    """rho = 4 * 64^sigmoid(theta), theta ~ N(0, 1): from noisy (4) to near-deterministic (256),
    log-uniform-like in the middle, median 32 (the paper's value)."""
    return RHO_LOW * (RHO_HIGH / RHO_LOW) ** jax.nn.sigmoid(theta)


DRAWS_AT_ONCE = 8  # posterior draws whose global latent is drawn back together (`per_draw`)


def per_draw(log_likelihoods, params, data) -> jax.Array:
    """log_likelihoods(p, data) for every posterior draw p of `params` (S, P), a few at a
    time: with rho learned each is a sum over the interactions (O(F M) for a feed), and all
    500 draws at once held 500 copies (bcm-feed, F = 80, T = 8192: 21 GB, killed)."""
    return jax.lax.map(lambda p: log_likelihoods(p, data), params, batch_size=DRAWS_AT_ONCE)
