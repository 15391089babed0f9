"""Posterior: what every method returns, the label-switching rule and the metrics.

Metrics: rmse_eps, the RMSE of the posterior mean over the model's scored parameters (for
the BCM with roles the paper's 4 eps); `<name>_right` for each global discrete latent; with
a binary latent per agent, the paper's role error rate, perfect recovery, leaders' recall
and the calibration of P(leader) (Brier, ECE).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vi_od.data.observations import Observations
from vi_od.models import Model


@dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior samples of the model's parameters (S, P), named by `param_names` (the
    continuous ones, then the global discrete latents), and, for a model with a binary
    latent per agent, each agent's P(latent = 1) ("leader" in the BCM with roles)."""

    method: str
    param_names: tuple[str, ...]
    samples: np.ndarray
    p_leader: np.ndarray | None = None
    p_leader_std: np.ndarray | None = None
    info: dict = field(default_factory=dict)  # JSON-ready: steps, final_loss, diagnostics, ...
    draws: dict | None = None  # raw draws {name: (chain, draw, ...)} for ArviZ, not serialized

    @property
    def roles(self) -> np.ndarray | None:
        """Estimated per-agent latents: P(leader) rounded (1 = leader); None without them."""
        return None if self.p_leader is None else (self.p_leader > 0.5).astype(np.int8)

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        return self.samples.std(axis=0)

    def quantile(self, q: float) -> np.ndarray:
        return np.quantile(self.samples, q, axis=0)


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
    method: str, samples, p_leader, p_leader_std=None, info=None, draws=None, *, model: Model
) -> Posterior:
    """Build a Posterior; with a latent per agent apply the paper's rule: more than half
    leaders => swap labels."""
    samples = np.asarray(samples, np.float64).reshape(-1, len(model.names))
    if not model.has_agents:
        return Posterior(method, model.names, samples, None, None, dict(info or {}), draws)
    p_leader = np.asarray(p_leader, np.float64)
    if label_switched(p_leader):
        samples = samples[:, list(model.swap)]
        p_leader = 1.0 - p_leader
    std = None if p_leader_std is None else np.asarray(p_leader_std, np.float64)
    return Posterior(method, model.names, samples, p_leader, std, dict(info or {}), draws)


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


def metrics(posterior: Posterior, truth: Observations, model: Model) -> dict:
    """Accuracy of a posterior against the truth the data carry: the model's parameters when
    they are its own (same count), each global discrete latent, and the per-agent latents."""
    out = {}
    known = model.truth_of(truth)
    scored = [n for n in (model.scored or model.param_names) if n in known]
    if scored:
        index = [model.names.index(n) for n in scored]
        out["rmse_eps"] = rmse_eps(posterior.mean[index], [known[n] for n in scored])
    for name in model.discrete_names:
        if name in known:
            estimate = posterior.mean[model.names.index(name)]
            out[f"{name}_right"] = bool(round(estimate) == round(known[name]))
    if truth.roles is None or posterior.p_leader is None:
        return out
    roles_true = truth.roles.astype(int)
    wrong = posterior.roles != roles_true
    n_leaders = roles_true.sum()
    found = (posterior.roles == 1) & (roles_true == 1)
    return out | {
        "role_error_rate": float(wrong.mean()),
        "perfect_roles": bool(not wrong.any()),
        "leaders_recall": float(found.sum() / n_leaders) if n_leaders else float("nan"),
        "brier": brier_score(posterior.p_leader, roles_true),
        "ece": expected_calibration_error(posterior.p_leader, roles_true),
    }


RECORD_DRAWS = 1000  # draws the fit record keeps (evenly thinned): what `vi-od check` reads


def thin_draws(samples: np.ndarray, most: int = RECORD_DRAWS) -> np.ndarray:
    """At most `most` posterior draws (S, P), evenly thinned, 6 decimals."""
    if samples.shape[0] > most:
        keep = np.round(np.linspace(0, samples.shape[0] - 1, most)).astype(int)
        samples = samples[keep]
    return np.round(samples, 6)
