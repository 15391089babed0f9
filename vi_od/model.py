"""The PGABM as numpyro models (paper section 4, DESIGN section 3).

X is observed, so |x_u - x_v| of every interaction is computed once from the trace; the
likelihood is then a vectorised Bernoulli over all interactions, with no loop over time.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from vi_od.errors import ViOdError
from vi_od.trace import Trace


class Interactions(NamedTuple):
    """All interactions of a trace, flattened: what the likelihood reads."""

    abs_diff: jax.Array  # (M,) |x_u - x_v| at the start of the step
    receiver: jax.Array  # (M,) v, whose role sets the thresholds
    s_plus: jax.Array  # (M,) 0/1
    s_minus: jax.Array  # (M,) 0/1
    N: int
    rho: float


def interactions(trace: Trace) -> Interactions:
    """Flatten a trace into Interactions; a trace without any interaction cannot be fitted."""
    if trace.T < 2 or trace.u.size == 0:
        raise ViOdError("the trace has no interactions (T < 2 or E = 0): nothing to fit")
    return Interactions(
        abs_diff=jnp.asarray(trace.abs_diff().ravel(), jnp.float32),
        receiver=jnp.asarray(trace.v.ravel(), jnp.int32),
        s_plus=jnp.asarray(trace.s_plus.ravel(), jnp.float32),
        s_minus=jnp.asarray(trace.s_minus.ravel(), jnp.float32),
        N=trace.N,
        rho=float(trace.rho),
    )


def eps_from_theta(theta4: jax.Array) -> jax.Array:
    """eps+ = sigmoid(theta)/2 in (0, 1/2), eps- = sigmoid(theta)/2 + 1/2 in (1/2, 1)."""
    half = jax.nn.sigmoid(theta4) / 2
    return half + jnp.array([0.0, 0.0, 0.5, 0.5])


@jax.custom_jvp
def bernoulli_logit_loglik(logit, s):
    """log p(s | logit) of a Bernoulli, s in {0, 1}: log sigmoid(logit) - (1 - s) logit.

    One exp and one log1p per element, shared with the derivative s - sigmoid(logit)
    (custom JVP): the likelihood of every interaction is what NUTS and SVI pay for.
    """
    return _loglik_and_sigmoid(logit, s)[0]


def _loglik_and_sigmoid(logit, s):
    e = jnp.exp(-jnp.abs(logit))
    loglik = jnp.minimum(logit, 0.0) - jnp.log1p(e) - (1 - s) * logit
    sigmoid = jnp.where(logit >= 0, 1.0, e) / (1 + e)
    return loglik, sigmoid


@bernoulli_logit_loglik.defjvp
def _bernoulli_logit_loglik_jvp(primals, tangents):
    logit, s = primals
    d_logit, d_s = tangents
    loglik, sigmoid = _loglik_and_sigmoid(logit, s)
    return loglik, (s - sigmoid) * d_logit + logit * d_s


def log_likelihood(eps_plus_v, eps_minus_v, data: Interactions) -> jax.Array:
    """Sum of the Bernoulli log-likelihoods of s+ and s- given each receiver's thresholds."""
    logit_plus = data.rho * (eps_plus_v - data.abs_diff)
    logit_minus = -data.rho * (eps_minus_v - data.abs_diff)
    return jnp.sum(
        bernoulli_logit_loglik(logit_plus, data.s_plus)
        + bernoulli_logit_loglik(logit_minus, data.s_minus)
    )


def relaxed_pgabm(data: Interactions, temperature: float = 0.1) -> None:
    """The paper's model: theta ~ N(0, 1)^(N+4), Gumbel-Softmax roles, Bernoulli outcomes."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([data.N + 4]).to_event(1))
    eps = numpyro.deterministic("eps", eps_from_theta(theta[:4]))
    roles = numpyro.sample(
        "roles", dist.RelaxedBernoulliLogits(temperature, logits=theta[4:]).to_event(1)
    )
    r = roles[data.receiver]
    eps_plus_v = r * eps[1] + (1 - r) * eps[0]
    eps_minus_v = r * eps[3] + (1 - r) * eps[2]
    numpyro.factor("likelihood", log_likelihood(eps_plus_v, eps_minus_v, data))
