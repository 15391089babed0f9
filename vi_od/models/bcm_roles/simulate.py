"""JAX simulator of the bounded-confidence model with backfire and two roles
(docs/models/bcm-roles.md).

Everything is a pure function of arrays and a PRNG key, so it jits once per shape and
vmaps over seeds and parameters. Time runs in `lax.scan`; the E interactions of a step all
read the opinions at the start of the step and every update is applied (scatter-add).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od import __version__
from vi_od.data.observations import Observations, from_columns
from vi_od.data.stream import Activity, Events, StreamedLog
from vi_od.data.trace import Trace
from vi_od.errors import require as _require
from vi_od.models.bcm_roles import EPS_MINUS_GRID, EPS_NAMES, EPS_PLUS_GRID
from vi_od.models.bcm_roles.settings import (  # their home: no JAX there
    SimulatorSettings,
)


def zero_leaders(values: dict) -> bool:
    """A grid cell the paper skips: round(N * leader_proportion) < 1 (config values)."""
    N, p = values.get("N"), values.get("leader_proportion")
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (N, p))
    return numbers and round(N * p) < 1


def trace_statistics(t: Trace) -> dict:
    """The paper's error-analysis features of a trace with its truth (results row columns)."""
    leader_receiver = t.roles[t.v] == 1
    return {
        **dict(zip(EPS_NAMES, (float(e) for e in t.eps))),
        "pos_interactions_L": int(t.s_plus[leader_receiver].sum()),
        "neg_interactions_L": int(t.s_minus[leader_receiver].sum()),
        "pos_interactions_F": int(t.s_plus[~leader_receiver].sum()),
        "neg_interactions_F": int(t.s_minus[~leader_receiver].sum()),
        "var_X_final": float(np.var(t.X[-1])),
        "abs_diff_eps_plus": float(abs(t.eps[0] - t.eps[1])),
        "abs_diff_eps_minus": float(abs(t.eps[3] - t.eps[2])),
    }


class Dynamics(NamedTuple):
    """Parameters of the dynamics, each indexed by role [follower, leader]."""

    eps_plus: jax.Array  # (2,)
    eps_minus: jax.Array  # (2,)
    mu_plus: jax.Array  # (2,)
    mu_minus: jax.Array  # (2,)
    rho: jax.Array  # ()


class Simulation(NamedTuple):
    """A full simulated trace: opinions, interactions and outcomes."""

    X: jax.Array  # (T, N) opinions, X[0] the initial ones
    u: jax.Array  # (T-1, E) senders
    v: jax.Array  # (T-1, E) receivers
    s_plus: jax.Array  # (T-1, E) positive (attractive) outcomes
    s_minus: jax.Array  # (T-1, E) negative (backfire) outcomes
    roles: jax.Array  # (N,) 1 = leader


def dynamics_from_eps(eps, mu_plus, mu_minus, rho) -> Dynamics:
    """Pack eps = [eps+_F, eps+_L, eps-_F, eps-_L] and the role-wise mu into Dynamics."""
    eps = jnp.asarray(eps, jnp.float32)
    return Dynamics(
        eps_plus=eps[:2],
        eps_minus=eps[2:],
        mu_plus=jnp.asarray(mu_plus, jnp.float32),
        mu_minus=jnp.asarray(mu_minus, jnp.float32),
        rho=jnp.asarray(rho, jnp.float32),
    )


def draw_eps_from_grid(seed: int) -> np.ndarray:
    """Draw true eps from the paper's grid with eps+_F >= eps+_L and eps-_F <= eps-_L."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xE95]))
    plus = np.sort(rng.choice(EPS_PLUS_GRID, size=2))[::-1]  # [F, L], F >= L
    minus = np.sort(rng.choice(EPS_MINUS_GRID, size=2))  # [F, L], F <= L
    return np.array([plus[0], plus[1], minus[0], minus[1]], dtype=np.float32)


def interact(key, X, u, v, roles, dyn: Dynamics):
    """One step's E interactions: PGABM outcomes and the opinions after all updates."""
    d = X[u] - X[v]
    r = roles[v]
    k_plus, k_minus = jax.random.split(key)
    p_plus = jax.nn.sigmoid(dyn.rho * (dyn.eps_plus[r] - jnp.abs(d)))
    p_minus = jax.nn.sigmoid(-dyn.rho * (dyn.eps_minus[r] - jnp.abs(d)))
    s_plus = jax.random.bernoulli(k_plus, p_plus)
    s_minus = jax.random.bernoulli(k_minus, p_minus)
    delta = (dyn.mu_plus[r] * s_plus - dyn.mu_minus[r] * s_minus) * d
    X_next = jnp.clip(X.at[v].add(delta), 0.0, 1.0)
    return X_next, s_plus, s_minus


def _scan(key, X0, u, v, roles, dyn: Dynamics, emit):
    """Scan the steps; `emit(X_next, s_plus, s_minus)` chooses what each step records."""
    keys = jax.random.split(key, u.shape[0])

    def step(X, inputs):
        k, u_t, v_t = inputs
        X_next, s_plus, s_minus = interact(k, X, u_t, v_t, roles, dyn)
        return X_next, emit(X_next, s_plus, s_minus)

    return jax.lax.scan(step, X0, (keys, u, v))[1]


def run_dynamics(key, X0, u, v, roles, dyn: Dynamics):
    """Run the dynamics on given pairs; return (X of shape (T, N), s_plus, s_minus)."""
    X_after, s_plus, s_minus = _scan(key, X0, u, v, roles, dyn, lambda X, sp, sm: (X, sp, sm))
    return jnp.concatenate([X0[None], X_after]), s_plus, s_minus


@jax.jit
def simulate_counts(key, X0, u, v, roles, dyn: Dynamics):
    """Per-step numbers of positive and negative interactions, without storing X.

    Conditions on the observed X0 and pairs (u, v); with the same key it reproduces the
    outcomes of `run_dynamics` exactly. ABC vmaps this over thousands of (roles, dyn).
    """

    def counts(X, s_plus, s_minus):
        return s_plus.sum(dtype=jnp.int32), s_minus.sum(dtype=jnp.int32)

    return _scan(key, X0, u, v, roles, dyn, counts)


def split_simulation_key(key):
    """Keys for (roles, X0, pairs, outcomes): the outcome key is the one `simulate_counts` takes."""
    return jax.random.split(key, 4)


def draw_pairs(key, n_steps: int, N: int, E: int):
    """E ordered pairs (u, v), u != v, uniformly at random per step."""
    k_u, k_off = jax.random.split(key)
    u = jax.random.randint(k_u, (n_steps, E), 0, N, dtype=jnp.int32)
    v = (u + jax.random.randint(k_off, (n_steps, E), 1, N, dtype=jnp.int32)) % N
    return u, v


def simulate(key, dyn: Dynamics, *, N: int, T: int, E: int, n_leaders: int) -> Simulation:
    """Simulate a trace: n_leaders leaders at random places, X0 ~ U(0, 1), T-1 steps of E pairs."""
    k_roles, k_x0, k_pairs, k_out = split_simulation_key(key)
    roles = jax.random.permutation(k_roles, (jnp.arange(N) < n_leaders).astype(jnp.int32))
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    u, v = draw_pairs(k_pairs, T - 1, N, E)
    X, s_plus, s_minus = run_dynamics(k_out, X0, u, v, roles, dyn)
    return Simulation(X, u, v, s_plus, s_minus, roles)


simulate_jit = jax.jit(simulate, static_argnames=("N", "T", "E", "n_leaders"))


def dense_trace_bytes(settings: SimulatorSettings) -> int:
    """Peak memory of `simulate_trace` and saving it: about four (T, N) float32 copies of X."""
    return 16 * settings.T * settings.N


def simulate_trace(settings: SimulatorSettings, seed: int) -> Trace:
    """Simulate a Trace (truth included) from validated settings and an integer seed."""
    eps = np.asarray(settings.eps if settings.eps is not None else draw_eps_from_grid(seed))
    dyn = dynamics_from_eps(eps, settings.mu_plus, settings.mu_minus, settings.dynamics_rho)
    sim = simulate_jit(
        jax.random.PRNGKey(seed),
        dyn,
        N=settings.N,
        T=settings.T,
        E=settings.edges_per_step,
        n_leaders=settings.n_leaders,
    )
    meta = {"seed": seed, "simulator": _as_json(settings), "vi_od_version": __version__}
    return trace_from_run(
        (sim.X, sim.u, sim.v, sim.s_plus, sim.s_minus), settings.mu_plus, settings.mu_minus,
        settings.rho, sim.roles, eps, meta,
    )  # fmt: skip


def _as_json(settings: SimulatorSettings) -> dict:
    """The settings as a file's metadata records them (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}


def trace_from_run(run, mu_plus, mu_minus, rho, roles, eps, meta: dict) -> Trace:
    """The Trace of one simulated run (X, u, v, s+, s-), in the .npz file's dtypes."""
    X, u, v, s_plus, s_minus = jax.device_get(run)
    return Trace(
        X=np.asarray(X),
        u=np.asarray(u),
        v=np.asarray(v),
        s_plus=np.asarray(s_plus, np.int8),
        s_minus=np.asarray(s_minus, np.int8),
        mu_plus=np.asarray(mu_plus, np.float32),
        mu_minus=np.asarray(mu_minus, np.float32),
        rho=float(rho),
        roles=np.asarray(roles, np.int8),
        eps=np.asarray(eps, np.float32),
        meta=meta,
    )


# --- Streaming: any number of steps, never a (T, N) array ---------------------------------

CHUNK_STEPS = 1 << 16  # steps per compiled chunk: 655,360 interactions at E = 10


def draw_pairs_weighted(seed: int, n_steps: int, weights: np.ndarray, E: int):
    """(n_steps, E) senders and receivers: receivers by `weights`, senders uniform among others."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9A1]))
    N = weights.size
    v = rng.choice(N, size=(n_steps, E), p=weights).astype(np.int32)
    u = ((v + rng.integers(1, N, size=(n_steps, E))) % N).astype(np.int32)
    return jnp.asarray(u), jnp.asarray(v)


class Stream(NamedTuple):
    """A simulation: its truth and an iterator over chunks of interactions."""

    eps: np.ndarray  # (4,) float32 [F+, L+, F-, L-]
    roles: np.ndarray  # (N,) int8, 1 = leader
    chunks: Iterator[Events]
    n_chunks: int


SNAPSHOT_CHUNK_FLOATS = 1 << 25  # opinions kept per chunk at most (128 MB)


def stream_bytes(settings: SimulatorSettings, snapshot_every: int | None = None) -> int:
    """Peak memory of `simulate_stream`: the pairs and step keys drawn up front (24 bytes
    per interaction with their temporaries), X, one chunk of outputs and the snapshots."""
    n_steps, N = settings.T - 1, settings.N
    snapshots = 0 if snapshot_every is None else (n_steps // snapshot_every + 1) * N * 4
    return 24 * n_steps * settings.edges_per_step + 8 * n_steps + 64 * N + 2**27 + snapshots


def chunk_steps(N: int, snapshot_every: int | None = None, default: int = CHUNK_STEPS) -> int:
    """Steps per chunk: about `default`, a multiple of the snapshot stride or a divisor of it."""
    k = snapshot_every
    if k is None:
        return default
    if k <= default:
        return k * max(1, min(default // k, SNAPSHOT_CHUNK_FLOATS // N))
    size = max(d for d in range(1, default + 1) if k % d == 0)
    _require(size >= default // 64, "--snapshots", k,
             f"at most {default}, or a multiple of a number near it (e.g. of 1000)")  # fmt: skip
    return size


def _uniforms(key, E: int):
    """The uniforms behind `interact`'s draws: bernoulli(k, p) is uniform(k, p.shape) < p."""
    k_plus, k_minus = jax.random.split(key)
    return jax.random.uniform(k_plus, (E,)), jax.random.uniform(k_minus, (E,))


def _local_step(X, inputs, roles, dyn: Dynamics):
    """`interact` touching only the E receivers: clip(X + updates) at v, O(E) per step.

    Every other opinion is already in [0, 1], so clipping the whole of X (`interact`)
    leaves it as is: outcomes and opinions are bit for bit those of `run_dynamics`.
    """
    up, um, u, v = inputs
    x_u, x_v = X[u], X[v]
    d = x_u - x_v
    r = roles[v]
    s_plus = up < jax.nn.sigmoid(dyn.rho * (dyn.eps_plus[r] - jnp.abs(d)))
    s_minus = um < jax.nn.sigmoid(-dyn.rho * (dyn.eps_minus[r] - jnp.abs(d)))
    delta = (dyn.mu_plus[r] * s_plus - dyn.mu_minus[r] * s_minus) * d
    X = X.at[v].add(delta)
    X = X.at[v].set(jnp.clip(X[v], 0.0, 1.0))
    return X, (x_u, x_v, s_plus, s_minus)


@partial(jax.jit, static_argnames="stride")
def _stream_chunk(X, keys, u, v, roles, dyn: Dynamics, *, stride: int):
    """A chunk of steps in blocks of `stride`: outputs per step, opinions per block start."""
    up, um = jax.vmap(_uniforms, in_axes=(0, None))(keys, u.shape[1])
    step = partial(_local_step, roles=roles, dyn=dyn)

    def block(X, inputs):
        X_next, outputs = jax.lax.scan(step, X, inputs)
        return X_next, (outputs, X)

    blocks = jax.tree.map(lambda a: a.reshape(-1, stride, *a.shape[1:]), (up, um, u, v))
    X, (outputs, starts) = jax.lax.scan(block, X, blocks)
    return X, jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), outputs), starts


def simulate_stream(
    settings: SimulatorSettings,
    seed: int,
    activity: Activity = Activity(),
    snapshot_every: int | None = None,
    chunk: int = CHUNK_STEPS,
) -> Stream:
    """Simulate as `simulate_trace` does, handing the interactions out in chunks of steps.

    With uniform activity the pairs, outcomes and opinions are those of
    `simulate_trace(settings, seed)` (same keys, same arithmetic), whatever the chunk
    length. Memory: the pairs, drawn up front (8 bytes per interaction), X and one chunk,
    never (T, N). With `snapshot_every` = k the opinions at the start of steps 0, k, 2k,
    ... (up to T - 1, the final ones) come along. `chunk`: steps per chunk, about.
    """
    eps = np.asarray(settings.eps if settings.eps is not None else draw_eps_from_grid(seed))
    dyn = dynamics_from_eps(eps, settings.mu_plus, settings.mu_minus, settings.dynamics_rho)
    N, E, n_steps = settings.N, settings.edges_per_step, settings.T - 1
    k_roles, k_x0, k_pairs, k_out = split_simulation_key(jax.random.PRNGKey(seed))
    roles = jax.random.permutation(k_roles, (jnp.arange(N) < settings.n_leaders).astype(jnp.int32))
    X0 = jax.random.uniform(k_x0, (N,), jnp.float32)
    weights = activity.weights(N, seed)
    if weights is None:
        u, v = jax.jit(draw_pairs, static_argnums=(1, 2, 3))(k_pairs, n_steps, N, E)
    else:
        u, v = draw_pairs_weighted(seed, n_steps, weights, E)
    keys = jax.random.split(k_out, n_steps)
    length = chunk_steps(N, snapshot_every, chunk)
    every = snapshot_every or length
    block = min(every, length)  # a chunk is a multiple of `every` or divides it
    length = min(length, block * -(-n_steps // block))  # short runs: one short chunk
    n_chunks = -(-n_steps // length)

    def padded(a, start):  # the last chunk: steps with u = v = 0 change nothing (d = 0)
        part = a[start : start + length]
        return jnp.pad(part, [(0, length - part.shape[0])] + [(0, 0)] * (a.ndim - 1))

    def host(start, outputs, starts, X_end) -> Events:
        n = min(length, n_steps - start)
        x_u, x_v, s_plus, s_minus = (np.asarray(a)[:n].reshape(-1) for a in outputs)
        times, snapshots = np.zeros(0, np.int64), np.zeros((0, N), np.float32)
        if snapshot_every is not None:
            times = start + block * np.arange(starts.shape[0], dtype=np.int64)
            keep = (times < start + n) & (times % every == 0)
            times, snapshots = times[keep], np.asarray(starts)[keep]
            if start + n == n_steps and n_steps % every == 0:  # the final opinions, X[T-1]
                times = np.append(times, n_steps)
                snapshots = np.concatenate([snapshots, np.asarray(X_end)[None]])
        return Events(
            time=np.repeat(np.arange(start, start + n, dtype=np.int64), E),
            sender=np.asarray(u[start : start + n]).reshape(-1),
            receiver=np.asarray(v[start : start + n]).reshape(-1),
            sender_opinion=x_u,
            receiver_opinion=x_v,
            s_plus=s_plus.astype(np.int8),
            s_minus=s_minus.astype(np.int8),
            snapshot_time=times,
            snapshots=snapshots,
        )

    def chunks() -> Iterator[Events]:
        X, pending = X0, None
        for start in range(0, n_steps, length):
            # dispatch this chunk before the previous one goes to the host: JAX is async
            inputs = (padded(keys, start), padded(u, start), padded(v, start))
            X, outputs, starts = _stream_chunk(X, *inputs, roles, dyn, stride=block)
            if pending is not None:
                yield host(*pending)
            pending = (start, outputs, starts, X)
        if pending is not None:
            yield host(*pending)

    return Stream(eps.astype(np.float32), np.asarray(roles, np.int8), chunks(), n_chunks)


def stream_log(
    settings: SimulatorSettings, seed: int, activity: Activity, snapshot_every: int | None
) -> StreamedLog:
    """`Simulation.stream`: `simulate_stream` as an event log, its truth as the log's metadata
    records it (no "model": such logs predate it, and a log without one is this model's)."""
    stream = simulate_stream(settings, seed, activity, snapshot_every=snapshot_every)
    meta = {
        "eps": [float(e) for e in stream.eps],
        "roles": [int(r) for r in stream.roles],
        "rho": float(settings.rho),
        "mu_plus": [float(m) for m in settings.mu_plus],
        "mu_minus": [float(m) for m in settings.mu_minus],
        "seed": seed,
        "simulator": _as_json(settings),
    }
    summary = {"n_leaders": int(stream.roles.sum())}
    summary |= dict(zip(EPS_NAMES, (float(e) for e in stream.eps)))
    return StreamedLog(meta, summary, stream.chunks)


def stream_observations(stream: Stream, settings: SimulatorSettings, seed: int) -> Observations:
    """All chunks of a stream as one Observations table (truth included), for small runs."""
    parts = list(stream.chunks)
    column = lambda name: np.concatenate([getattr(p, name) for p in parts])
    return from_columns(
        column("time"), column("sender"), column("receiver"), column("sender_opinion"),
        column("receiver_opinion"), column("s_plus"), column("s_minus"),
        np.arange(settings.N), rho=float(settings.rho),
        mu_plus=np.asarray(settings.mu_plus, np.float32),
        mu_minus=np.asarray(settings.mu_minus, np.float32),
        roles=stream.roles, eps=stream.eps, meta={"seed": seed},
    )  # fmt: skip
