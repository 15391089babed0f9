"""Posterior predictive checks of the models whose thresholds every agent shares (`vi-od check`).

The statistics, p-values, Holm's correction, JSON and figure are those of the BCM with
roles' check (`vi_od.models.bcm_roles.ppc`, whose module docstring says why), with one
group of agents instead of two roles:

- `distance`: s+ and s- rates in bins of |d| (a wrong threshold or steepness);
- `time`: the rates in windows of equal numbers of interactions (behaviour that drifts);
- `spread`: the standard deviation of per-agent rates among agents with at least
  MIN_RECEIVED interactions: agents unlike the rest, as leaders are, which a model with one
  threshold for everyone cannot make.

A model supplies its `PooledCheck`: how to read its data (`data`), the |d| at which each
posterior draw puts every interaction and the outcome probabilities there (`outcomes`).
Where the opinions are replayed from the parameters (BCM-U's b), the bins use the |d| of
the posterior's central draw, for the observed data and every replication alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.models.bcm_roles.ppc import (
    DRAWS,
    FAMILIES,
    MIN_AGENTS,
    MIN_EXPECTED,
    MIN_RECEIVED,
    MINUS_EDGES,
    PLUS_EDGES,
    SIGNS,
    WINDOWS,
    Statistic,
    figure,
    to_json,
    verdict,
)

GROUP = "all"  # the one group the statistics are named by (the BCM's are its roles, F and L)


@dataclass(frozen=True)
class PooledCheck:
    """A shared-threshold model's check: `data(obs)` the arrays it replicates from (with
    `receiver` (M,) and `N`), `outcomes(params (P + D,), data)` -> (|d| (M,), P(s+) (M,),
    P(s-) (M,)) at one posterior draw; `negative` whether the model has s- at all."""

    data: Callable
    outcomes: Callable
    n_params: int
    negative: bool = True

    def draws_from_record(self, record, obs: Observations, most: int = DRAWS) -> np.ndarray:
        """(S, P + D) of the fit record's draws (evenly thinned to `most`)."""
        draws = np.asarray(record.draws, np.float32)
        if draws.ndim != 2 or draws.shape[1] != self.n_params:
            raise ViOdError(f"the fit's draws are not this model's {self.n_params} parameters")
        if draws.shape[0] > most:
            draws = draws[np.round(np.linspace(0, draws.shape[0] - 1, most)).astype(int)]
        return draws

    def check(self, obs: Observations, draws: np.ndarray, seed: int = 0, alpha: float = 0.05):
        """Replicate s+ and s- from every draw and test each statistic (module doc)."""
        start = time.perf_counter()
        data = self.data(obs)
        central = jnp.asarray(np.median(draws, axis=0))
        groups = _groups(obs, np.asarray(self.outcomes(central, data)[0], np.float64))
        observed = jax.device_get(_summaries(groups["s_plus"], groups["s_minus"], groups))
        keys = jax.random.split(jax.random.PRNGKey(seed), draws.shape[0])
        replicated = jax.device_get(
            _replicate(keys, jnp.asarray(draws), data, groups, self.outcomes)
        )
        signs = SIGNS if self.negative else SIGNS[:1]
        stats = [s for family in FAMILIES for sign in signs
                 for s in _family(sign, family, observed, replicated)]  # fmt: skip
        return verdict(stats, alpha, int(draws.shape[0]), start)

    to_json = staticmethod(to_json)
    figure = staticmethod(figure)


def _groups(obs: Observations, d: np.ndarray) -> dict:
    """Each interaction's |d| bins and time window, and the agents' interaction counts."""
    obs.require_interactions()
    in_bin = lambda edges: np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
    received = obs.received()
    return {
        "s_plus": jnp.asarray(obs.s_plus, jnp.float32),
        "s_minus": jnp.asarray(obs.s_minus, jnp.float32),
        "plus_bin": jnp.asarray(in_bin(np.asarray(PLUS_EDGES)), jnp.int32),
        "minus_bin": jnp.asarray(in_bin(np.asarray(MINUS_EDGES)), jnp.int32),
        "window": jnp.asarray(np.arange(obs.M) * WINDOWS // obs.M, jnp.int32),
        "receiver": jnp.asarray(obs.receiver, jnp.int32),
        "received": jnp.asarray(np.maximum(received, 1), jnp.float32),
        "enough": jnp.asarray(received >= MIN_RECEIVED, jnp.float32),
    }


def _summaries(s_plus, s_minus, g: dict) -> dict:
    """{key: (values, sizes)} of one data set: rates per bin and window, per-agent spreads."""
    seg = jax.ops.segment_sum
    ones = jnp.ones_like(s_plus)

    def rates(column, group, groups):
        sums = seg(jnp.stack([column, ones], 1), group, groups)
        n = sums[:, 1]
        return sums[:, 0] / jnp.where(n > 0, n, jnp.nan), n

    out = {"s+ distance": rates(s_plus, g["plus_bin"], len(PLUS_EDGES) - 1),
           "s- distance": rates(s_minus, g["minus_bin"], len(MINUS_EDGES) - 1),
           "s+ time": rates(s_plus, g["window"], WINDOWS),
           "s- time": rates(s_minus, g["window"], WINDOWS)}  # fmt: skip
    N = g["enough"].shape[0]
    for sign, s in zip(SIGNS, (s_plus, s_minus)):
        rate = seg(s, g["receiver"], N) / g["received"]
        n = g["enough"].sum()
        mean = jnp.sum(g["enough"] * rate) / jnp.maximum(n, 1.0)
        var = jnp.sum(g["enough"] * (rate - mean) ** 2) / (n - 1.0)
        out[f"{sign} spread"] = (jnp.where(n >= 2, jnp.sqrt(var), jnp.nan)[None], n[None])
    return out


def _replicate(keys, draws, data, groups: dict, outcomes: Callable) -> dict:
    """Per draw: s+ and s- drawn at that draw's |d| and probabilities."""

    @jax.jit
    def run(keys, draws, data, groups):
        def one(inputs):
            key, params = inputs
            _, p_plus, p_minus = outcomes(params, data)
            k_plus, k_minus = jax.random.split(key)
            s_plus = (jax.random.uniform(k_plus, p_plus.shape) < p_plus).astype(jnp.float32)
            s_minus = (jax.random.uniform(k_minus, p_minus.shape) < p_minus).astype(jnp.float32)
            return _summaries(s_plus, s_minus, groups)

        return jax.lax.map(one, (keys, draws))

    return run(keys, draws, data, groups)


def _family(sign: str, family: str, observed: dict, replicated: dict) -> list[Statistic]:
    """One family's statistics of one sign; groups empty in the data are left out."""
    key = f"{sign} {family}"
    values, sizes = (np.asarray(a, np.float64) for a in observed[key])
    out = []
    for g in range(values.size):
        if not np.isfinite(values[g]):
            continue
        rep = np.asarray(replicated[key][0][:, g], np.float64)
        rep = rep[np.isfinite(rep)]
        n = int(sizes[g])
        if family == "spread":
            tested, where = n >= MIN_AGENTS and rep.size >= 2, "agent sd"
        else:
            events = rep.mean() * n if rep.size else 0.0
            tested = rep.size >= 2 and min(events, n - events) >= MIN_EXPECTED
            edges = PLUS_EDGES if sign == "s+" else MINUS_EDGES
            where = (f"|d| {edges[g]:g}-{edges[g + 1]:g}" if family == "distance"
                     else f"time {g + 1}/{WINDOWS}")  # fmt: skip
        name = f"{sign} {where}"
        out.append(Statistic(name, family, sign, GROUP, n, float(values[g]), rep, bool(tested)))
    return out
