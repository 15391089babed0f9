"""FitRecord: one typed record per fit, from which the printed table, the fit JSON, `vi-od
check`'s input and the sweep row all come.

Parameters are summarised by the model's names (continuous ones, then global discrete
latents); the per-agent latent (P(leader) for the BCM with roles) is kept only for models
that have one. The JSON form is the fit file (`vi-od fit --out`); `from_json` also reads the
files of vi-od before models were plug-ins (keys eps_mean.. and draws.eps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.inference.posterior import Posterior, metrics, thin_draws
from vi_od.models import Model

STATS = ("mean", "std", "q05", "q95")
_OLD_KEYS = {"mean": "eps_mean", "std": "eps_std", "q05": "eps_q05", "q95": "eps_q95"}


@dataclass(frozen=True)
class FitRecord:
    """What a fit found and what it cost: JSON-ready by construction."""

    model: str
    method: str
    settings: dict
    seed: int
    wall_time_s: float
    param_names: tuple[str, ...]
    summary: dict  # {stat: {name: value}} for STATS
    draws: np.ndarray  # (S, P) thinned posterior draws (what `vi-od check` replicates)
    info: dict = field(default_factory=dict)  # the method's own: steps, diagnostics, ...
    agent_ids: list | None = None
    p_leader: np.ndarray | None = None  # (N,) P(per-agent latent = 1), models with one
    p_leader_std: np.ndarray | None = None
    metrics: dict | None = None
    pi_draws: np.ndarray | None = None  # (S,) the per-agent latent's share at each draw
    data_fingerprint: str | None = None  # Observations.fingerprint() of the data fitted

    @classmethod
    def of(cls, posterior: Posterior, obs: Observations, model: Model, *, method: str,
           settings: dict, seed: int, wall_time_s: float) -> FitRecord:  # fmt: skip
        """The record of a posterior fitted to `obs`; scored when the data carry a truth."""
        values = {"mean": posterior.mean, "std": posterior.std,
                  "q05": posterior.quantile(0.05), "q95": posterior.quantile(0.95)}  # fmt: skip
        summary = {k: dict(zip(posterior.param_names, map(float, v))) for k, v in values.items()}
        scored = obs.roles is not None or obs.eps is not None
        pi = (posterior.draws or {}).get("pi")
        if pi is not None:
            pi = np.asarray(pi, np.float64).reshape(-1)
            pi = thin_draws(pi[:, None])[:, 0] if pi.size == posterior.samples.shape[0] else None
        return cls(
            model=model.name,
            method=method,
            settings=settings,
            seed=seed,
            wall_time_s=wall_time_s,
            param_names=tuple(posterior.param_names),
            summary=summary,
            draws=thin_draws(posterior.samples),
            info=posterior.info,
            agent_ids=json_ready(list(obs.agent_ids)),
            p_leader=posterior.p_leader,
            p_leader_std=posterior.p_leader_std,
            metrics=metrics(posterior, obs, model) if scored else None,
            pi_draws=pi,
            data_fingerprint=obs.fingerprint(),
        )

    @property
    def roles(self) -> np.ndarray | None:
        return None if self.p_leader is None else (np.asarray(self.p_leader) > 0.5).astype(int)

    def to_json(self) -> dict:
        """The fit file's content (plain JSON types)."""
        out = {"model": self.model, "method": self.method, "settings": json_ready(self.settings),
               "seed": self.seed, "wall_time_s": self.wall_time_s,
               "param_names": list(self.param_names), **self.summary}  # fmt: skip
        if self.p_leader is not None:
            out["p_leader"] = [float(p) for p in self.p_leader]
            out["roles"] = [int(r) for r in self.roles]
            out["n_leaders_found"] = int(self.roles.sum())
            if self.p_leader_std is not None:
                out["p_leader_std"] = [float(s) for s in self.p_leader_std]
        out |= json_ready(self.info)
        if self.metrics is not None:
            out["metrics"] = self.metrics
        out["draws"] = {"params": self.draws.tolist()}
        if self.pi_draws is not None:
            out["draws"]["pi"] = self.pi_draws.tolist()
        out["agent_ids"] = self.agent_ids
        out["data_fingerprint"] = self.data_fingerprint
        return out

    @classmethod
    def from_json(cls, data: dict, where: str = "fit record") -> FitRecord:
        """A fit file read back, checked: names, finite numbers, probabilities in [0, 1]."""
        if not isinstance(data, dict):
            raise ViOdError(f"{where}: not a fit record of vi-od fit --out")
        old = "mean" not in data and "eps_mean" in data  # written before models were plug-ins
        summary = {stat: data.get(_OLD_KEYS[stat] if old else stat) for stat in STATS}
        if not isinstance(summary["mean"], dict) or not summary["mean"]:
            raise ViOdError(f"{where}: not a fit record of vi-od fit --out (no parameter means)")
        names = tuple(data.get("param_names") or summary["mean"])
        for stat, values in summary.items():
            summary[stat] = _numbers_by_name(values, names, f"{where}: '{stat}'")
        draws = (data.get("draws") or {}).get("eps" if old else "params")
        draws = _array(draws, f"{where}: 'draws'", ndim=2)
        if draws.shape[0] < 2 or draws.shape[1] != len(names):
            raise ViOdError(
                f"{where}: 'draws' must hold at least 2 draws of the {len(names)} parameters "
                f"{', '.join(names)}; fit again with vi-od fit --out"
            )
        pi = (data.get("draws") or {}).get("pi")
        if pi is not None:
            pi = _array(pi, f"{where}: 'draws.pi'", ndim=1)
            if pi.shape[0] != draws.shape[0] or ((pi < 0) | (pi > 1)).any():
                raise ViOdError(f"{where}: 'draws.pi' must hold one share in [0, 1] per draw")
        p_leader = data.get("p_leader")
        if p_leader is not None:
            p_leader = _array(p_leader, f"{where}: 'p_leader'", ndim=1)
            outside = p_leader[(p_leader < 0) | (p_leader > 1)]
            if outside.size:
                raise ViOdError(f"{where}: 'p_leader' holds {outside[0]:g}, outside [0, 1]")
        known = {"model", "method", "settings", "seed", "wall_time_s", "param_names", "draws",
                 "p_leader", "p_leader_std", "roles", "n_leaders_found", "metrics", "agent_ids",
                 "data_fingerprint", *STATS, *_OLD_KEYS.values()}  # fmt: skip
        return cls(
            model=str(data.get("model", "bcm-roles")),
            method=str(data.get("method", "")),
            settings=data.get("settings") or {},
            seed=data.get("seed", 0),
            wall_time_s=float(data.get("wall_time_s", math.nan)),
            param_names=names,
            summary=summary,
            draws=draws,
            info={k: v for k, v in data.items() if k not in known},
            agent_ids=data.get("agent_ids"),
            p_leader=p_leader,
            p_leader_std=None,
            metrics=data.get("metrics"),
            pi_draws=pi,
            data_fingerprint=data.get("data_fingerprint"),
        )

    def row(self) -> dict:
        """The sweep row's estimates: est_<name> and std_<name>."""
        out = {}
        for name in self.param_names:
            out[f"est_{name}"] = self.summary["mean"][name]
            out[f"std_{name}"] = self.summary["std"][name]
        return out


def _numbers_by_name(values, names: tuple[str, ...], where: str) -> dict:
    if not isinstance(values, dict) or set(values) != set(names):
        raise ViOdError(f"{where} must give a number for each of {', '.join(names)}")
    out = {}
    for name in names:
        x = values[name]
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ViOdError(f"{where}: {name}={x!r} is not a finite number")
        out[name] = float(x)
    return out


def _array(values, where: str, ndim: int) -> np.ndarray:
    """A JSON list as a finite float array of `ndim` dimensions, or a one-line error."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ViOdError(f"{where} must hold numbers only") from None
    if a.ndim != ndim or a.size == 0:
        raise ViOdError(f"{where} is missing or has the wrong shape {a.shape}")
    if not np.isfinite(a).all():
        raise ViOdError(f"{where} holds NaN or infinite values")
    return a


def json_ready(value):
    """Tuples become lists, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
