"""Posterior: what every method returns, the paper's label-switching rule and the metrics.

Metrics (DESIGN section 5): rmse_eps over the 4 eps of the posterior mean, role error rate,
perfect role recovery, leaders' recall, and the calibration of P(leader) (Brier, ECE).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vi_od.data.observations import Observations
from vi_od.models import Model


@dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior samples of the model's parameters (S, P), named by `param_names` (for the
    BCM with roles, eps as [F+, L+, F-, L-]), and P(leader) per agent."""

    method: str
    param_names: tuple[str, ...]
    eps_samples: np.ndarray
    p_leader: np.ndarray
    p_leader_std: np.ndarray | None = None
    info: dict = field(default_factory=dict)  # JSON-ready: steps, final_loss, diagnostics, ...
    draws: dict | None = None  # raw draws {name: (chain, draw, ...)} for ArviZ, not serialized

    @property
    def roles(self) -> np.ndarray:
        """Estimated roles: P(leader) rounded (1 = leader)."""
        return (self.p_leader > 0.5).astype(np.int8)

    @property
    def eps_mean(self) -> np.ndarray:
        return self.eps_samples.mean(axis=0)

    @property
    def eps_std(self) -> np.ndarray:
        return self.eps_samples.std(axis=0)

    def eps_quantile(self, q: float) -> np.ndarray:
        return np.quantile(self.eps_samples, q, axis=0)


def label_switched(p_leader) -> bool:
    """The paper's rule: more than half the agents estimated leaders means the labels swapped."""
    return bool(_leader_majority(np.asarray(p_leader) > 0.5))


def _leader_majority(roles: np.ndarray) -> np.ndarray:
    """The one label rule, per row of 0/1 roles: more leaders than half the agents."""
    return roles.sum(axis=-1) > roles.shape[-1] / 2


def align_draws(
    eps: np.ndarray, roles: np.ndarray, swap: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The same rule per draw (S, N): a draw with more than half leaders swaps its labels.

    For methods whose draws come from both mirror labellings (ABC under a prior symmetric
    in leaders and followers): averaged unaligned, every P(leader) would be about 1/2.
    """
    flip = _leader_majority(roles)
    eps = np.where(flip[:, None], eps[:, list(swap)], eps)
    roles = np.where(flip[:, None], 1 - roles, roles).astype(roles.dtype)
    return eps, roles


def make_posterior(
    method: str, eps_samples, p_leader, p_leader_std=None, info=None, draws=None, *, model: Model
) -> Posterior:
    """Build a Posterior and apply the paper's rule: more than half leaders => swap labels."""
    eps_samples = np.asarray(eps_samples, np.float64).reshape(-1, model.n_params)
    p_leader = np.asarray(p_leader, np.float64)
    if label_switched(p_leader):
        eps_samples = eps_samples[:, list(model.swap)]
        p_leader = 1.0 - p_leader
    std = None if p_leader_std is None else np.asarray(p_leader_std, np.float64)
    info = dict(info or {})
    return Posterior(method, model.param_names, eps_samples, p_leader, std, info, draws)


def rmse_eps(eps_estimate, eps_true) -> float:
    """sqrt of the mean over the 4 eps of the squared error."""
    err = np.asarray(eps_estimate, float) - np.asarray(eps_true, float)
    return float(np.sqrt(np.mean(err**2)))


def brier_score(p_leader, roles_true) -> float:
    """Mean squared difference between P(leader) and the true 0/1 role."""
    return float(np.mean((np.asarray(p_leader, float) - np.asarray(roles_true, float)) ** 2))


def expected_calibration_error(p_leader, roles_true, bins: int = 10) -> float:
    """ECE: bin P(leader) into equal-width bins; weighted mean |mean p - share of leaders|."""
    p = np.asarray(p_leader, float)
    y = np.asarray(roles_true, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(idx):
        in_bin = idx == b
        total += in_bin.sum() * abs(p[in_bin].mean() - y[in_bin].mean())
    return float(total / p.size)


def metrics(posterior: Posterior, truth: Observations) -> dict:
    """Accuracy of a posterior against the truth the data carry (roles; eps when known)."""
    roles_true = truth.roles.astype(int)
    wrong = posterior.roles != roles_true
    n_leaders = roles_true.sum()
    found = (posterior.roles == 1) & (roles_true == 1)
    # true parameters of another model (another count) are not comparable: roles only
    comparable = truth.eps is not None and len(truth.eps) == len(posterior.param_names)
    eps = {"rmse_eps": rmse_eps(posterior.eps_mean, truth.eps)} if comparable else {}
    return eps | {
        "role_error_rate": float(wrong.mean()),
        "perfect_roles": bool(not wrong.any()),
        "leaders_recall": float(found.sum() / n_leaders) if n_leaders else float("nan"),
        "brier": brier_score(posterior.p_leader, roles_true),
        "ece": expected_calibration_error(posterior.p_leader, roles_true),
    }


RECORD_DRAWS = 1000  # eps draws the fit record keeps (evenly thinned): what `vi-od check` reads


def record_draws(eps_samples: np.ndarray, most: int = RECORD_DRAWS) -> dict:
    """The record's `draws` block: {"eps": S x 4 posterior draws, S <= most, 6 decimals}."""
    if eps_samples.shape[0] > most:
        keep = np.round(np.linspace(0, eps_samples.shape[0] - 1, most)).astype(int)
        eps_samples = eps_samples[keep]
    return {"eps": np.round(eps_samples, 6).tolist()}


def summarize(posterior: Posterior, obs: Observations) -> dict:
    """The JSON-ready record of a fit (fit output and sweep rows build on it)."""
    named = lambda a: {n: float(x) for n, x in zip(posterior.param_names, a)}
    out = {
        "method": posterior.method,
        "eps_mean": named(posterior.eps_mean),
        "eps_std": named(posterior.eps_std),
        "eps_q05": named(posterior.eps_quantile(0.05)),
        "eps_q95": named(posterior.eps_quantile(0.95)),
        "p_leader": [float(p) for p in posterior.p_leader],
        "roles": [int(r) for r in posterior.roles],
        "n_leaders_found": int(posterior.roles.sum()),
        **posterior.info,
    }
    if posterior.p_leader_std is not None:
        out["p_leader_std"] = [float(s) for s in posterior.p_leader_std]
    if obs.roles is not None:  # known roles (e.g. `vi-od fit --truth`) are scored without eps
        out["metrics"] = metrics(posterior, obs)
    out["draws"] = record_draws(posterior.eps_samples)
    return out
