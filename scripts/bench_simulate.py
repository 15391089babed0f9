"""Simulator speed: one full trace, and vmapped batches of count-only simulations (ABC's need)."""

import jax
import jax.numpy as jnp
from benchlib import timed, write

from vi_od.models.bcm_roles.simulate import dynamics_from_eps, simulate_counts, simulate_jit

MU = ([0.02, 0.02], [0.02, 0.02])


def full_trace(N, T):
    dyn = dynamics_from_eps([0.25, 0.15, 0.65, 0.75], *MU, 32.0)
    run = lambda: simulate_jit(jax.random.PRNGKey(0), dyn, N=N, T=T, E=10, n_leaders=N // 10)
    compile_and_run = timed(run, repeat=1)
    return {"case": "full trace", "N": N, "T": T, "first_call_s": round(compile_and_run, 3),
            "after_compile_s": round(timed(run), 4), "target_s": 0.5}  # fmt: skip


def count_batch(N, T, B, target):
    dyn = dynamics_from_eps([0.25, 0.15, 0.65, 0.75], *MU, 32.0)
    sim = simulate_jit(jax.random.PRNGKey(0), dyn, N=N, T=T, E=10, n_leaders=N // 10)
    keys = jax.random.split(jax.random.PRNGKey(1), B)
    eps = jax.random.uniform(keys[0], (B, 4)) * 0.5 + jnp.array([0, 0, 0.5, 0.5])
    roles = jax.random.bernoulli(keys[1], 0.5, (B, N)).astype(jnp.int32)
    dyns = jax.vmap(lambda e: dynamics_from_eps(e, *MU, 32.0))(eps)
    batch = jax.jit(jax.vmap(simulate_counts, in_axes=(0, None, None, None, 0, 0)))
    run = lambda: batch(keys, sim.X[0], sim.u, sim.v, roles, dyns)
    first = timed(run, repeat=1)
    return {"case": "count-only batch", "N": N, "T": T, "batch": B,
            "first_call_s": round(first, 3), "after_compile_s": round(timed(run, repeat=1), 3),
            "target_s": target}  # fmt: skip


if __name__ == "__main__":
    rows = [
        full_trace(400, 8192),
        count_batch(100, 512, 1000, 5.0),
        count_batch(400, 8192, 1000, 60.0),
    ]
    write("simulate", rows)
