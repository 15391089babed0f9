"""JAX simulator of the bounded-confidence model with backfire and two roles (DESIGN section 3).

Everything is a pure function of arrays and a PRNG key, so it jits once per shape and
vmaps over seeds and parameters. Time runs in `lax.scan`; the E interactions of a step all
read the opinions at the start of the step and every update is applied (scatter-add).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vi_od import __version__
from vi_od.data.trace import Trace
from vi_od.errors import require as _require
from vi_od.models.bcm_roles import EPS_MINUS_GRID, EPS_PLUS_GRID, validate_eps


@dataclass(frozen=True)
class SimulatorSettings:
    """What `vi-od simulate` needs: the population, the horizon and the dynamics."""

    N: int
    T: int
    leader_proportion: float
    edges_per_step: int = 10
    mu_plus: tuple[float, float] = (0.02, 0.02)
    mu_minus: tuple[float, float] = (0.02, 0.02)
    rho: float = 32.0
    eps: tuple[float, float, float, float] | None = None

    @property
    def n_leaders(self) -> int:
        return round(self.N * self.leader_proportion)

    def validate(self) -> SimulatorSettings:
        """Raise ViOdError naming the first bad key and what it may be."""
        _require(self.N >= 2, "N", self.N, "an integer >= 2")
        _require(self.T >= 2, "T", self.T, "an integer >= 2")
        _require(self.edges_per_step >= 1, "simulator.edges_per_step", self.edges_per_step, ">= 1")
        p = self.leader_proportion
        _require(0 < p < 1, "leader_proportion", p, "in (0, 1)")
        _require(
            self.n_leaders >= 1,
            "leader_proportion",
            p,
            f"such that round(N * p) >= 1 (N={self.N} gives {self.n_leaders} leaders)",
        )
        for name in ("mu_plus", "mu_minus"):
            mu = getattr(self, name)
            _require(
                len(mu) == 2 and all(0 <= m <= 1 for m in mu),
                f"simulator.{name}",
                list(mu),
                "two numbers [F, L] in [0, 1]",
            )
        _require(self.rho > 0, "simulator.rho", self.rho, "> 0")
        if self.eps is not None:
            validate_eps(self.eps, "simulator.eps")
        return self


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


def simulate_trace(settings: SimulatorSettings, seed: int) -> Trace:
    """Simulate a Trace (truth included) from validated settings and an integer seed."""
    eps = np.asarray(settings.eps if settings.eps is not None else draw_eps_from_grid(seed))
    dyn = dynamics_from_eps(eps, settings.mu_plus, settings.mu_minus, settings.rho)
    sim = simulate_jit(
        jax.random.PRNGKey(seed),
        dyn,
        N=settings.N,
        T=settings.T,
        E=settings.edges_per_step,
        n_leaders=settings.n_leaders,
    )
    sim = jax.device_get(sim)
    simulator = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}
    meta = {"seed": seed, "simulator": simulator, "vi_od_version": __version__}
    return Trace(
        X=np.asarray(sim.X),
        u=np.asarray(sim.u),
        v=np.asarray(sim.v),
        s_plus=np.asarray(sim.s_plus, np.int8),
        s_minus=np.asarray(sim.s_minus, np.int8),
        mu_plus=np.asarray(settings.mu_plus, np.float32),
        mu_minus=np.asarray(settings.mu_minus, np.float32),
        rho=float(settings.rho),
        roles=np.asarray(sim.roles, np.int8),
        eps=eps.astype(np.float32),
        meta=meta,
    )
