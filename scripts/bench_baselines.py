"""NUTS and ABC speed (docs/methods/index.md) and the before/after of their optimisations.

Rows: ABC 15000 simulations at N=400, T=2048 (target <= 60 s) and its time per simulation
by chunk size; NUTS with the default settings at N=100, T=512 (target <= 300 s); NUTS at
N=400, T=8192 extrapolated from the time per leapfrog step to the default budget with
every tree at the maximum depth (target <= the 3-hour job limit), with the tabulated and
the exact likelihood; the exact likelihood's gradient before/after the fused Bernoulli
term; one NUTS chain unbatched vs vmapped.
Usage: python scripts/bench_baselines.py [abc|nuts|nuts8192|grad]   (default: all)
"""

import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from benchlib import write
from numpyro.infer import NUTS

from vi_od.data.trace import to_observations
from vi_od.inference import abc, nuts
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.relaxed import interactions, log_likelihood
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

HOUR = 3600.0


def trace_at(N, T, seed=0):
    return simulate_trace(SimulatorSettings(N=N, T=T, leader_proportion=0.1), seed)


def wall(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def abc_rows():
    trace = trace_at(400, 2048)
    obs = abc.observe(to_observations(trace))
    rows = []
    for size in (250, 500, 1000, 2000, 4000):  # time per simulation and memory by chunk size
        keys = jax.random.split(jax.random.PRNGKey(0), size)
        compiled = abc.simulate_chunk.lower(keys, obs).compile()
        temp_mb = compiled.memory_analysis().temp_size_in_bytes / 2**20
        jax.block_until_ready(compiled(keys, obs))
        run = partial(compiled, keys, obs)
        s = min(wall(lambda: jax.block_until_ready(run()))[1] for _ in range(2))  # noqa: B023
        rows.append({"case": "abc chunk", "N": 400, "T": 2048, "chunk_size": size,
                     "ms_per_simulation": round(1e3 * s / size, 3),
                     "xla_temp_MB": round(temp_mb, 1)})  # fmt: skip
    settings = abc.Settings()
    with quiet():
        post, s = wall(
            lambda: abc.fit(to_observations(trace), settings, jax.random.PRNGKey(1), BCM_ROLES)
        )
    rows.append({"case": "abc fit (incl. compile)", "N": 400, "T": 2048,
                 "simulations": settings.simulations, "chunk_size": settings.chunk_size,
                 "wall_s": round(s, 1), "accepted": post.info["accepted"],
                 "target_s": 60, "paper_s": 80 * 60})  # fmt: skip
    return rows


def nuts_rows():
    trace = trace_at(100, 512, seed=1)
    settings = nuts.Settings()
    with quiet():
        post, s = wall(
            lambda: nuts.fit(to_observations(trace), settings, jax.random.PRNGKey(0), BCM_ROLES)
        )
    info = post.info
    return [{"case": "nuts fit default (incl. compile)", "N": 100, "T": 512,
             "likelihood": settings.likelihood, "warmup": settings.warmup,
             "samples": settings.samples, "wall_s": round(s, 1),
             "mean_leapfrog_steps": info["mean_leapfrog_steps"], "step_size": info["step_size"],
             "divergences": info["divergences"],
             "min_ess": round(min(info["ess"].values()), 1),
             "max_r_hat": round(max(info["r_hat"].values()), 3),
             "target_s": 300, "paper_s": 6 * 60}]  # fmt: skip


def per_leapfrog_s(trace, likelihood="table", chains=0, iterations=2):
    """Seconds per leapfrog step of NUTS on the relaxed model (tiny fixed step: full trees)."""
    settings = nuts.Settings(likelihood=likelihood)
    model, args = nuts.model_and_args(to_observations(trace), settings, BCM_ROLES)
    kernel = NUTS(model, step_size=1e-5, adapt_step_size=False, adapt_mass_matrix=False)
    key = jax.random.PRNGKey(0)
    state = kernel.init(jax.random.split(key, chains) if chains else key, 0, model_args=args)
    sample = lambda i, s, a: kernel.sample(s, a, {})
    run = jax.jit(lambda s, a: jax.lax.fori_loop(0, iterations, partial(sample, a=a), s))
    state = jax.block_until_ready(run(state, args))
    state, s = wall(lambda: jax.block_until_ready(run(state, args)))
    return s / (iterations * int(np.max(state.num_steps)))


def nuts_8192_rows():
    trace = trace_at(400, 8192)
    settings = nuts.Settings()
    iterations = settings.warmup + settings.samples
    most = 2**settings.max_tree_depth - 1
    rows = []
    for likelihood in ("table", "exact"):
        step = per_leapfrog_s(trace, likelihood)
        bound = step * iterations * most
        rows.append({"case": "nuts N=400 T=8192 estimate", "likelihood": likelihood,
                     "ms_per_leapfrog": round(1e3 * step, 3), "iterations": iterations,
                     "max_leapfrog_per_iteration": most, "upper_bound_s": round(bound),
                     "job_limit_s": 3 * HOUR, "fits": bool(bound < 3 * HOUR)})  # fmt: skip
    return rows


def paper_log_likelihood(eps_plus_v, eps_minus_v, data):
    """The likelihood as first written (four log_sigmoid per interaction): the 'before'."""
    lp = data.rho * (eps_plus_v - data.abs_diff)
    lm = -data.rho * (eps_minus_v - data.abs_diff)
    return jnp.sum(
        data.s_plus * jax.nn.log_sigmoid(lp) + (1 - data.s_plus) * jax.nn.log_sigmoid(-lp)
        + data.s_minus * jax.nn.log_sigmoid(lm) + (1 - data.s_minus) * jax.nn.log_sigmoid(-lm)
    )  # fmt: skip


def grad_s(trace, likelihood, steps=50):
    """Seconds per value-and-gradient of the likelihood in eps and roles (inside a scan)."""
    data = interactions(to_observations(trace))

    def f(eps, roles):
        r = roles[data.receiver]
        return likelihood(r * eps[1] + (1 - r) * eps[0], r * eps[3] + (1 - r) * eps[2], data)

    def loop(eps, roles):
        def body(c, _):
            v, g = jax.value_and_grad(f, argnums=(0, 1))(*c)
            return (c[0] - 1e-9 * g[0], c[1] - 1e-9 * g[1]), v

        return jax.lax.scan(body, (eps, roles), None, length=steps)

    run = jax.jit(loop)
    args = (jnp.array([0.3, 0.2, 0.7, 0.8]), jnp.full((trace.N,), 0.3))
    jax.block_until_ready(run(*args))
    return min(wall(lambda: jax.block_until_ready(run(*args)))[1] for _ in range(3)) / steps


def grad_rows():
    rows = []
    for N, T in ((100, 512), (400, 8192)):
        trace = trace_at(N, T)
        before, after = grad_s(trace, paper_log_likelihood), grad_s(trace, log_likelihood)
        rows.append({"case": "likelihood gradient", "N": N, "T": T,
                     "before_us": round(1e6 * before), "after_us": round(1e6 * after),
                     "speedup": round(before / after, 2)})  # fmt: skip
    trace = trace_at(100, 512)
    vmapped, plain = per_leapfrog_s(trace, "exact", chains=1), per_leapfrog_s(trace, "exact")
    rows.append({"case": "one NUTS chain (exact): vmapped vs unbatched", "N": 100, "T": 512,
                 "vmapped_us_per_leapfrog": round(1e6 * vmapped),
                 "unbatched_us_per_leapfrog": round(1e6 * plain),
                 "speedup": round(vmapped / plain, 2)})  # fmt: skip
    return rows


CASES = {"grad": grad_rows, "abc": abc_rows, "nuts8192": nuts_8192_rows, "nuts": nuts_rows}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(CASES)
    write("baselines", [row for name in wanted for row in CASES[name]()])
