"""SVI speed: the paper's settings, wall time of a whole fit including compiling.

svi-normal: 20000 steps at N=400, T=8192 (target <= 12 s on 2 CPU cores; paper 61 s).
svi-nf: 10000 steps at N=200, T=2048 (target <= 10 min; paper about 40 min).
Also the time per step once compiled (a second chunk), to separate compile from run.

Usage: python scripts/bench_svi.py [normal] [nf] [N=4000]   (default: normal nf)
"""

import sys
import time

import jax
import jax.numpy as jnp
from benchlib import write

from vi_od.data.trace import to_observations
from vi_od.inference import get
from vi_od.inference import svi as svi_method
from vi_od.inference.fitting import fit_observations
from vi_od.models.bcm_roles.model import BCM_ROLES
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
from vi_od.progress import quiet

CASES = {
    "normal": ("svi-normal", 400, 8192, 12.0),
    "nf": ("svi-nf", 200, 2048, 600.0),
}


def per_step(method: str, trace, length: int = 200) -> float:
    """Seconds per SVI step of a compiled chunk (after a first, compiling call)."""
    settings = get(method).Settings().validate()
    guide = svi_method._guide(settings)
    model = BCM_ROLES
    data = model.relaxed.table(to_observations(trace))  # the table fit() reads
    temperature, lr = jnp.float32(settings.temperature), jnp.float32(settings.lr)
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    states = svi_method._init(guide, model, keys, data, temperature)
    temperatures = jnp.full(length, temperature)
    run = lambda s: svi_method._chunk(guide, model, length, s, data, temperatures, lr, length)
    states, losses = run(states)
    jax.block_until_ready(losses)
    start = time.perf_counter()
    jax.block_until_ready(run(states)[1])
    return (time.perf_counter() - start) / length


def case(method: str, N: int, T: int, target: float) -> dict:
    trace = simulate_trace(SimulatorSettings(N=N, T=T, leader_proportion=0.1), seed=0)
    settings = get(method).Settings().validate()
    with quiet():
        record = fit_observations(to_observations(trace), method, settings, seed=0).record
    return {
        "case": method, "N": N, "T": T, "steps": settings.steps,
        "wall_time_s": round(record["wall_time_s"], 2), "target_s": target,
        "step_ms": round(per_step(method, trace) * 1e3, 4),
        "rmse_eps": round(record["metrics"]["rmse_eps"], 4),
        "role_error_rate": round(record["metrics"]["role_error_rate"], 4),
    }  # fmt: skip


if __name__ == "__main__":
    wanted = [a for a in sys.argv[1:] if a in CASES] or list(CASES)
    rows = [case(*CASES[name]) for name in wanted]
    for arg in sys.argv[1:]:
        if arg.startswith("N="):  # e.g. the GPU's N=4000, T=8192 svi-normal case
            rows.append(case("svi-normal", int(arg[2:]), 8192, float("nan")))
    write("svi", rows)
