"""Trace: an observed (or simulated) opinion trajectory with its interactions, as `.npz`.

Format (README, docs/data.md): X float (T, N); u, v int32 (T-1, E); s_plus, s_minus int8
(T-1, E); mu_plus, mu_minus float (2,) as [F, L]; rho; optional truth roles int8 (N,) and
eps float (4,) as [F+, L+, F-, L-]; meta a JSON string. A user's own data arrives the same way.
A model with columns of its own (vi_od.data.columns: a feed, an event's kind) adds arrays
`extra_<name>` of shape (T-1, E, ...), one entry per interaction like u and v.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vi_od.atomic import atomic_write
from vi_od.data import check_trace_file
from vi_od.data.observations import Observations
from vi_od.errors import ViOdError

REQUIRED = ("X", "u", "v", "s_plus", "s_minus", "mu_plus", "mu_minus", "rho")
EXTRA = "extra_"  # the prefix of a model's own per-interaction arrays in the .npz


@dataclass(frozen=True, eq=False)
class Trace:
    """Opinions X (T, N), interactions (u -> v) per step and their outcomes; truth if known."""

    X: np.ndarray
    u: np.ndarray
    v: np.ndarray
    s_plus: np.ndarray
    s_minus: np.ndarray
    mu_plus: np.ndarray
    mu_minus: np.ndarray
    rho: float
    roles: np.ndarray | None = None
    eps: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # name -> (T-1, E, ...) a model's own columns

    @property
    def T(self) -> int:
        return self.X.shape[0]

    @property
    def N(self) -> int:
        return self.X.shape[1]

    @property
    def E(self) -> int:
        return self.u.shape[1]

    @property
    def has_truth(self) -> bool:
        return self.roles is not None and self.eps is not None

    def abs_diff(self) -> np.ndarray:
        """|x_u - x_v| of every interaction, read at the start of its step: (T-1, E)."""
        X = self.X[:-1]
        rows = np.arange(X.shape[0])[:, None]
        return np.abs(X[rows, self.u] - X[rows, self.v])


def save(trace: Trace, path: str | os.PathLike) -> Path:
    """Write the trace atomically (temp file + rename), so no half-written file is left."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ViOdError(f"{path}: a trace file must end in .npz")
    arrays = {
        "X": trace.X.astype(np.float32),
        "u": trace.u.astype(np.int32),
        "v": trace.v.astype(np.int32),
        "s_plus": trace.s_plus.astype(np.int8),
        "s_minus": trace.s_minus.astype(np.int8),
        "mu_plus": np.asarray(trace.mu_plus, np.float32),
        "mu_minus": np.asarray(trace.mu_minus, np.float32),
        "rho": np.float32(trace.rho),
        "meta": np.array(json.dumps(trace.meta)),
    }
    if trace.roles is not None:
        arrays["roles"] = trace.roles.astype(np.int8)
    if trace.eps is not None:
        arrays["eps"] = np.asarray(trace.eps, np.float32)
    arrays |= {EXTRA + name: np.asarray(a) for name, a in trace.extra.items()}
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def load(path: str | os.PathLike, clip_opinions: float | None = None) -> Trace:
    """Read and validate a trace file; any problem raises ViOdError naming the file and field.

    `clip_opinions`: X values at most this far outside [0, 1] (float noise) are clipped,
    counted in meta["notes"].
    """
    path = Path(path)
    check_trace_file(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zip, pickle or format errors from numpy
        raise ViOdError(f"{path}: not a readable .npz trace file ({exc})") from None
    notes = []
    if clip_opinions and "X" in data and np.issubdtype(np.asarray(data["X"]).dtype, np.floating):
        from vi_od.data.eventlog import clip_opinions as clip

        data["X"], clipped = clip(np.asarray(data["X"]), clip_opinions)
        if clipped:
            notes.append(f"{path}: clipped {clipped} opinion(s) of 'X' into [0, 1] "
                         f"(--clip-opinions {clip_opinions:g})")  # fmt: skip
    try:
        trace = from_arrays(data)
    except ViOdError as exc:
        raise ViOdError(f"{path}: {exc}") from None
    return replace(trace, meta={**trace.meta, "notes": notes}) if notes else trace


def from_arrays(data: dict) -> Trace:
    """Build a Trace from a dict of arrays, validating every field (see `validate`)."""
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        needed = ", ".join(REQUIRED)
        raise ViOdError(f"missing key(s) {', '.join(missing)} (a trace needs {needed})")
    meta = data.get("meta")
    try:
        meta = json.loads(str(meta)) if meta is not None else {}
    except json.JSONDecodeError:
        raise ViOdError("'meta' is not a JSON string") from None
    trace = Trace(
        X=np.asarray(data["X"]),
        u=np.asarray(data["u"]),
        v=np.asarray(data["v"]),
        s_plus=np.asarray(data["s_plus"]),
        s_minus=np.asarray(data["s_minus"]),
        mu_plus=np.asarray(data["mu_plus"]),
        mu_minus=np.asarray(data["mu_minus"]),
        rho=np.asarray(data["rho"]),
        roles=np.asarray(data["roles"]) if "roles" in data else None,
        eps=np.asarray(data["eps"]) if "eps" in data else None,
        meta=meta,
        extra={k.removeprefix(EXTRA): np.asarray(a) for k, a in data.items()
               if k.startswith(EXTRA)},  # fmt: skip
    )
    validate(trace)
    return Trace(
        X=trace.X.astype(np.float32),
        u=trace.u.astype(np.int32),
        v=trace.v.astype(np.int32),
        s_plus=trace.s_plus.astype(np.int8),
        s_minus=trace.s_minus.astype(np.int8),
        mu_plus=trace.mu_plus.astype(np.float32),
        mu_minus=trace.mu_minus.astype(np.float32),
        rho=float(trace.rho),
        roles=None if trace.roles is None else trace.roles.astype(np.int8),
        eps=None if trace.eps is None else trace.eps.astype(np.float32),
        meta=meta,
        extra=trace.extra,
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ViOdError(message)


def _is_real(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)


def validate(t: Trace) -> None:
    """Check shapes, dtypes and ranges; raise ViOdError saying exactly what is wrong."""
    _check(t.X.ndim == 2, f"'X' must be 2-D (T, N), got shape {t.X.shape}")
    _check(np.issubdtype(t.X.dtype, np.floating), f"'X' must be float, got {t.X.dtype}")
    T, N = t.X.shape
    _check(T >= 2, f"'X' has T={T} time steps; at least 2 are needed to see an interaction")
    _check(N >= 2, f"'X' has N={N} agents; at least 2 are needed")
    _check(not np.isnan(t.X).any(), f"'X' contains {int(np.isnan(t.X).sum())} NaN value(s)")
    _check(
        t.X.min() >= 0.0 and t.X.max() <= 1.0,
        f"'X' opinions must lie in [0, 1], found range [{t.X.min():.4g}, {t.X.max():.4g}] "
        "(if that is float noise, --clip-opinions 0.01 clips values that close)",
    )
    for name in ("u", "v", "s_plus", "s_minus"):
        a = getattr(t, name)
        _check(a.ndim == 2, f"'{name}' must be 2-D (T-1, E), got shape {a.shape}")
        _check(a.shape[0] == T - 1, f"'{name}' has {a.shape[0]} steps, expected T-1 = {T - 1}")
        _check(
            a.shape == t.u.shape,
            f"'{name}' has shape {a.shape}, expected the shape of 'u' {t.u.shape}",
        )
        _check(
            np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_,
            f"'{name}' must be integer, got {a.dtype}",
        )
    _check(t.u.shape[1] >= 1, "'u' has no interactions per step (E = 0)")
    for name in ("u", "v"):
        a = getattr(t, name)
        _check(
            a.min() >= 0 and a.max() < N,
            f"'{name}' agent indices must lie in [0, {N}), found range [{a.min()}, {a.max()}]",
        )
    for name in ("s_plus", "s_minus"):
        a = getattr(t, name)
        bad = ~np.isin(a, (0, 1))
        _check(not bad.any(), f"'{name}' values must be 0 or 1, found {np.unique(a[bad])[:5]}")
    for name in ("mu_plus", "mu_minus"):
        a = getattr(t, name)
        _check(a.shape == (2,) and _is_real(a), f"'{name}' must be 2 numbers [F, L], got {a}")
        _check(bool(((a >= 0) & (a <= 1)).all()), f"'{name}' must lie in [0, 1], got {a}")
    rho = np.asarray(t.rho)
    _check(rho.shape == () and _is_real(rho), f"'rho' must be a number, got {rho}")
    _check(float(rho) > 0, f"'rho' must be > 0, got {float(rho)}")
    if t.roles is not None:
        _check(t.roles.shape == (N,), f"'roles' has shape {t.roles.shape}, expected ({N},)")
        _check(bool(np.isin(t.roles, (0, 1)).all()), "'roles' values must be 0 or 1 (1 = leader)")
    if t.eps is not None:  # the true parameters, in the order of the model's names
        e = t.eps
        ok = e.ndim == 1 and e.size >= 1 and _is_real(e)
        _check(ok, f"'eps' must be a list of numbers, got {e}")
        _check(bool(np.isfinite(e).all()), f"'eps' must be finite, got {e}")
    for name, a in t.extra.items():  # a model's own columns: what they hold, the model checks
        key = f"'{EXTRA}{name}'"
        shape = f"expected {t.u.shape} (one entry per interaction, + any trailing axes)"
        _check(a.shape[:2] == t.u.shape, f"{key} has shape {a.shape}, {shape}")
        _check(_is_real(a) or a.dtype == np.bool_, f"{key} must be numbers, got {a.dtype}")
        _check(bool(np.isfinite(a).all()), f"{key} must be finite")


def dense_bytes(T: int, N: int) -> int:
    """Peak memory of simulating a dense trace and saving it: about four (T, N) float32 X."""
    return 16 * T * N


def summary(t: Trace, names: tuple[str, ...] = ()) -> dict:
    """Numbers that describe a trace; its true parameters under `names` (the model's)."""
    out = {"N": t.N, "T": t.T, "E": t.E, "var_X_final": float(np.var(t.X[-1]))}
    out["positive_interactions"] = int(t.s_plus.sum())
    out["negative_interactions"] = int(t.s_minus.sum())
    if t.roles is not None:
        out["n_leaders"] = int(t.roles.sum())
    if t.eps is not None and len(names) == t.eps.size:
        out.update({name: float(x) for name, x in zip(names, t.eps)})
    return out


def to_observations(t: Trace) -> Observations:
    """The trace as one row per interaction (step index, u, v, both opinions, s+, s-).

    The dense trace travels along (`Observations.trace`) for what needs every agent's
    opinion at every step: ABC's re-simulation, trajectory plots, trace statistics.
    """
    steps, E = t.u.shape
    rows = np.repeat(np.arange(steps), E)
    u, v = t.u.ravel(), t.v.ravel()
    return Observations(
        time=rows.astype(np.int64),
        sender=u.astype(np.int32),
        receiver=v.astype(np.int32),
        sender_opinion=t.X[rows, u].astype(np.float32),
        receiver_opinion=t.X[rows, v].astype(np.float32),
        s_plus=t.s_plus.ravel().astype(np.int8),
        s_minus=t.s_minus.ravel().astype(np.int8),
        agent_ids=np.arange(t.N),
        rho=float(t.rho),
        mu_plus=np.asarray(t.mu_plus, np.float32),
        mu_minus=np.asarray(t.mu_minus, np.float32),
        roles=t.roles,
        eps=t.eps,
        trace=t,
        meta=t.meta,
        extra={name: a.reshape(steps * E, *a.shape[2:]) for name, a in t.extra.items()},
    )
