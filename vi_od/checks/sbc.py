"""Simulation-based calibration (Talts et al. 2018): ranks and intervals of prior truths.

If a method's posterior is right, the rank of a truth drawn from the prior among posterior
draws of data simulated from that truth is uniform, and its 50% and 90% intervals cover the
truth 50% and 90% of the time. A sweep whose file says `truth: prior` (conf/sweep/sbc.yaml)
draws every experiment's truth from the model's own prior (`Model.sbc`, `Model.prior_spec`);
this module scores the posteriors against it, by the model's parameter names.
"""

from __future__ import annotations

import numpy as np

RANK_DRAWS = 100  # ranks among at most this many draws, thinned evenly (NUTS draws correlate)
QUANTILES = (0.05, 0.25, 0.75, 0.95)  # the 90% and 50% central intervals


def thinned(draws: np.ndarray, most: int = RANK_DRAWS) -> np.ndarray:
    """At most `most` draws, evenly spaced: near-independent draws for ranks."""
    if draws.shape[0] <= most:
        return draws
    return draws[np.round(np.linspace(0, draws.shape[0] - 1, most)).astype(int)]


def ranks(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per parameter, how many of the draws (S, P) lie below the truth (P,).

    Uniform on 0..S when the draws are independent draws of a calibrated posterior.
    """
    return (np.asarray(draws) < np.asarray(truth)[None, :]).sum(axis=0)


def covered(truth, lower, upper) -> np.ndarray:
    """Whether each truth lies in its interval [lower, upper] (NaN where any bound is unknown)."""
    truth, lower, upper = (np.asarray(a, float) for a in (truth, lower, upper))
    inside = ((lower <= truth) & (truth <= upper)).astype(float)
    return np.where(np.isnan(lower) | np.isnan(upper) | np.isnan(truth), np.nan, inside)


def interval_columns(samples: np.ndarray, names, truth: dict | None = None) -> dict:
    """The results row's q05/q25/q75/q95_<name>; with a truth ({name: value}), also
    rank_<name> of each parameter it knows, and n_draws."""
    out = {}
    for q in QUANTILES:
        values = np.quantile(samples, q, axis=0)
        out.update({f"q{round(q * 100):02d}_{n}": float(x) for n, x in zip(names, values)})
    if truth:
        kept = thinned(samples)
        known = [i for i, n in enumerate(names) if n in truth]
        found = ranks(kept[:, known], [truth[names[i]] for i in known])
        out.update({f"rank_{names[i]}": int(r) for i, r in zip(known, found)})
        out["n_draws"] = int(kept.shape[0])
    return out
