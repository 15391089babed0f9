"""Collapsed PGABM at N=400, T=8192: the likelihood's cost per gradient, and whole fits.

Gradient rows compare the ways of writing log p(s | eps, pi) with the roles summed out
(value and gradient of the log joint, best of interleaved repeats); the used one is the
padded (N, K) layout with a hand-written JVP. Fit rows run `svi-marginal` and
`nuts-marginal` with their default settings, each in a fresh process so that the time
includes every compile (targets: 10 s and 45 s on 2 cores); cpu_s (user + system time of
the fit, all threads) is less sensitive than wall_s to other jobs sharing the machine.
"""

import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from benchlib import write
from numpyro.infer.util import log_density

from vi_od.data.trace import to_observations
from vi_od.models.bcm_roles.collapsed import (
    Grouped,
    _role_log_prior,
    collapsed_pgabm,
    group_by_receiver,
    label_symmetric_beta,
)
from vi_od.models.bcm_roles.relaxed import eps_from_theta, interactions
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace

N, T, SEED = 400, 8192, 0
PARAMS = {"theta": jnp.array([0.1, -0.2, 0.3, 0.4]), "pi": jnp.array(0.1)}


def _prior(p):
    pi_prior = label_symmetric_beta(1.0, 4.0).log_prob(p["pi"])
    return dist.Normal().log_prob(p["theta"]).sum() + pi_prior


def _lse(agent_ll, pi):
    return jnp.sum(jax.nn.logsumexp(agent_ll + _role_log_prior(pi), axis=0))


def segment_sum(p, flat):
    """Flat interactions, per-agent sums by jax.ops.segment_sum, autodiff."""
    eps = eps_from_theta(p["theta"])
    sign_plus, sign_minus = 2 * flat.s_plus - 1, 1 - 2 * flat.s_minus
    ll = jax.nn.log_sigmoid(flat.rho * sign_plus * (eps[:2, None] - flat.abs_diff))
    ll += jax.nn.log_sigmoid(flat.rho * sign_minus * (eps[2:, None] - flat.abs_diff))
    agent = jax.vmap(lambda x: jax.ops.segment_sum(x, flat.receiver, num_segments=N))(ll)
    return _lse(agent, p["pi"]) + _prior(p)


def padded_autodiff(p, g: Grouped):
    """Padded (N, K) rows with a mask, jax.nn.log_sigmoid, autodiff."""
    eps = eps_from_theta(p["theta"])
    ll = jax.nn.log_sigmoid(g.rho * g.sign_plus * (eps[:2, None, None] - g.abs_diff))
    ll += jax.nn.log_sigmoid(g.rho * g.sign_minus * (eps[2:, None, None] - g.abs_diff))
    return _lse(jnp.sum(ll * g.mask, axis=-1), p["pi"]) + _prior(p)


def padded_custom_jvp(p, g: Grouped):
    """The model as used: vi_od.models.bcm_roles.collapsed (padded rows, hand-written JVP)."""
    return log_density(collapsed_pgabm, (g,), {}, p)[0]


def enumerated_model(g: Grouped):
    """The same model with the roles as discrete sites, summed out by numpyro/funsor."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([4]).to_event(1))
    eps = eps_from_theta(theta)
    pi = numpyro.sample("pi", label_symmetric_beta(1.0, 4.0))
    with numpyro.plate("agents", g.abs_diff.shape[0], dim=-2):
        role = numpyro.sample("role", dist.Bernoulli(pi), infer={"enumerate": "parallel"})
        eps_plus = jnp.where(role == 1, eps[1], eps[0])
        eps_minus = jnp.where(role == 1, eps[3], eps[2])
        with numpyro.plate("received", g.abs_diff.shape[1], dim=-1):
            real = g.mask > 0
            logit_plus = g.rho * (eps_plus - g.abs_diff)
            logit_minus = -g.rho * (eps_minus - g.abs_diff)
            numpyro.sample("s_plus", dist.Bernoulli(logits=logit_plus).mask(real),
                           obs=(g.sign_plus > 0).astype(jnp.float32))  # fmt: skip
            numpyro.sample("s_minus", dist.Bernoulli(logits=logit_minus).mask(real),
                           obs=(g.sign_minus < 0).astype(jnp.float32))  # fmt: skip


def enumeration(p, g: Grouped):
    from numpyro.contrib.funsor import enum
    from numpyro.contrib.funsor import log_density as enum_log_density

    return enum_log_density(enum(enumerated_model, first_available_dim=-3), (g,), {}, p)[0]


def gradient_rows(trace) -> list[dict]:
    g = group_by_receiver(to_observations(trace))
    flat = interactions(to_observations(trace))
    variants = {
        "segment sum, autodiff": (segment_sum, flat),
        "padded (N, K), autodiff": (padded_autodiff, g),
        "padded (N, K), hand-written JVP [used]": (padded_custom_jvp, g),
    }
    try:
        import funsor  # noqa: F401

        variants["numpyro enumeration (funsor)"] = (enumeration, g)
    except ImportError:
        print("funsor not installed: skipping the enumeration variant (pip install funsor)")
    compiled, rows, values = {}, {}, {}
    for name, (fn, data) in variants.items():
        vg = jax.jit(jax.value_and_grad(fn))
        start = time.perf_counter()
        values[name] = float(jax.block_until_ready(vg(PARAMS, data))[0])
        first = time.perf_counter() - start
        memory = vg.lower(PARAMS, data).compile().memory_analysis()
        compiled[name] = (vg, data)
        rows[name] = {"case": f"gradient: {name}", "N": N, "T": T,
                      "interactions": int(flat.abs_diff.size), "compile_s": round(first, 3),
                      "temp_MB": round(memory.temp_size_in_bytes / 1e6, 2)}  # fmt: skip
    best = dict.fromkeys(compiled, float("inf"))
    for _ in range(20):  # interleaved, so that load from other processes hits all alike
        for name, (vg, data) in compiled.items():
            start = time.perf_counter()
            for _ in range(20):
                out = vg(PARAMS, data)
            jax.block_until_ready(out)
            best[name] = min(best[name], (time.perf_counter() - start) / 20)
    reference = values["padded (N, K), hand-written JVP [used]"]
    for name in rows:
        rows[name]["per_gradient_ms"] = round(best[name] * 1e3, 3)
        rows[name]["log_joint_minus_used"] = round(values[name] - reference, 4)
    return list(rows.values())


FIT = """
import json, resource, time, jax
from vi_od.inference import get
from vi_od.inference.posterior import metrics
from vi_od.progress import quiet
from vi_od.models.bcm_roles.simulate import SimulatorSettings, simulate_trace
trace = simulate_trace(SimulatorSettings(N={N}, T={T}, leader_proportion=0.1), seed={seed})
method = get("{method}")
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
start, start_cpu = time.perf_counter(), cpu()
with quiet():
    post = method.fit(to_observations(trace), method.Settings().validate(), jax.random.PRNGKey(0))
wall, cpu_s = time.perf_counter() - start, cpu() - start_cpu
record = {{"wall": wall, "cpu": cpu_s, "metrics": metrics(post, trace), "info": post.info}}
print(json.dumps(record))
"""


def fit_row(method: str, target: float) -> dict:
    """One fit in a fresh process: the wall time of `fit` includes every compile."""
    import json

    code = FIT.format(N=N, T=T, seed=SEED, method=method)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    info = result["info"]
    row = {"case": f"fit: {method} (default settings, fresh process)", "N": N, "T": T,
           "wall_s": round(result["wall"], 2), "cpu_s": round(result["cpu"], 2),
           "target_s": target,
           "rmse_eps": round(result["metrics"]["rmse_eps"], 4),
           "role_error_rate": result["metrics"]["role_error_rate"]}  # fmt: skip
    for key in ("steps", "warmup", "samples", "leapfrog_steps", "divergences"):
        if key in info:
            row[key] = info[key]
    return row


if __name__ == "__main__":
    trace = simulate_trace(SimulatorSettings(N=N, T=T, leader_proportion=0.1), seed=SEED)
    rows = gradient_rows(trace)
    rows.append(fit_row("svi-marginal", 10.0))
    rows.append(fit_row("nuts-marginal", 45.0))
    write("marginal", rows)
