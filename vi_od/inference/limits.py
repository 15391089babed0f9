"""What each method would need for given data, checked before it starts (docs/scale.md).

One function per method, `limits(obs, settings, model)`, raising a one-line ViOdError with the
estimate when the run would not fit in memory or (on a CPU) would take longer than
`vi_od.limits.MAX_CPU_HOURS`. The registry attaches them; `vi-od fit` calls them first.

Paces are CPU time measured on the 2-core development machine (scripts/bench_scale.py,
load 5-10), rounded up:

- relaxed gradient from the table: 40 us + 25 ns per agent (21 ns measured at N = 20,000);
  from every interaction (nuts likelihood=exact): + 5 ns per interaction (4.3 measured);
- svi-normal step: 0.3 ms + 90 ns per agent (8-10 ms measured at N = 10^5);
- svi-nf step: 3 ns per flow parameter (37.5 ms for 1.3e7 parameters at N = 200);
- ABC: 0.5 ns per simulated agent-step (0.32 measured at N = 2,000).

NUTS on the relaxed model is bounded by its tree cap, 2^max_tree_depth - 1 leapfrog steps
per iteration, which it hits on the paper's grid; its time bound is that worst case.
"""

from __future__ import annotations

from vi_od.data.observations import Observations
from vi_od.limits import require_memory, require_time
from vi_od.models import Model

RUNTIME_BYTES = 400 * 2**20  # JAX, XLA and the compiled programs


def table_bytes(obs: Observations, model: Model) -> float:
    """Peak memory of the collapsed methods: the runtime and the model's per-agent table."""
    return RUNTIME_BYTES + model.collapsed.table_bytes(obs)


def relaxed_table_bytes(obs: Observations, model: Model) -> float:
    """Peak memory of the relaxed methods' data: the runtime and the model's relaxed table."""
    return RUNTIME_BYTES + model.relaxed.table_bytes(obs)


def marginal_limits(obs: Observations, settings, model: Model) -> None:
    """nuts-marginal, svi-marginal: the table; then O(N) per step, P + 1 parameters."""
    require_memory(_what("the table", obs), table_bytes(obs, model))


def svi_normal_limits(obs: Observations, settings, model: Model) -> None:
    """svi-normal: the table, the guide's parameters, guide draws of every role."""
    draws = 8 * settings.num_samples * obs.N
    require_memory(_what("svi-normal", obs), relaxed_table_bytes(obs, model) + draws)
    step = 3e-4 + 90e-9 * obs.N
    require_time(_what(f"svi-normal ({settings.steps} steps)", obs),
                 settings.steps * settings.restarts * step)  # fmt: skip


def flow_parameters(N: int, num_flows: int, hidden_factors, n_params: int = 4, agents: bool = True,
                    discrete: int = 0) -> int:  # fmt: skip
    """Parameters of svi-nf's flow on the relaxed model's 2N + P latent dimensions (P = 4
    model parameters for the BCM with roles).

    Per flow and block layer (in factor a, out factor b) on d dimensions: the packed upper
    block triangle, d/2 (d + 1) a b, plus weight scales and biases, 2 d b; one gate per
    gated flow. It grows as N^2: 80 (2N + 4)^2 with the paper's two flows of [8, 8].
    """
    d = 2 * N * agents + n_params + 2 * discrete  # theta and relaxed values of each latent
    factors = [1, *hidden_factors, 1]
    layers = sum(d // 2 * (d + 1) * a * b + 2 * d * b for a, b in zip(factors, factors[1:]))
    return num_flows * layers + num_flows - 1


def svi_nf_limits(obs: Observations, settings, model: Model) -> None:
    """svi-nf: parameters, their gradients and Adam's two moments (and slack), 24 bytes each."""
    n = flow_parameters(obs.N, settings.num_flows, settings.hidden_factors, model.n_params,
                        model.has_agents, len(model.discrete_names))  # fmt: skip
    what = _what(f"svi-nf with {n:.3g} flow parameters", obs)
    need = relaxed_table_bytes(obs, model) + 24 * n
    require_memory(what, need, "svi-normal or svi-marginal scale to it")
    require_time(what, settings.steps * settings.restarts * 3e-9 * n,
                 "svi-normal or svi-marginal scale to it")  # fmt: skip


def nuts_limits(obs: Observations, settings, model: Model) -> None:
    """nuts (relaxed): the table or the interactions, every iteration's roles, the tree cap."""
    iterations = (settings.warmup + settings.samples) * settings.chains
    gradient = 40e-6 + 25e-9 * obs.N
    data = relaxed_table_bytes(obs, model)
    if settings.likelihood == "exact":
        gradient += 5e-9 * obs.M
        data = RUNTIME_BYTES + 48 * obs.M
    what = _what("nuts", obs)
    require_memory(what, data + 12 * iterations * obs.N, "nuts-marginal scales to it")
    worst = iterations * (2**settings.max_tree_depth - 1) * gradient
    require_time(what + f" at its tree cap ({2**settings.max_tree_depth - 1} leapfrog steps)",
                 worst, "nuts-marginal scales to it")  # fmt: skip


def abc_limits(obs: Observations, settings, model: Model) -> None:
    """abc: re-simulates the whole dense trace per simulation (O(T N) each)."""
    trace = obs.trace
    if trace is None:
        return  # abc.fit says why it cannot run on an event log
    what = _what(f"abc ({settings.simulations} simulations of T={trace.T})", obs)
    batch = min(settings.chunk_size, settings.simulations)
    require_memory(what, RUNTIME_BYTES + 4 * trace.T * trace.N
                   + batch * (12 * trace.N + 16 * trace.T))  # fmt: skip
    require_time(what, settings.simulations * (trace.T - 1) * 0.5e-9 * (trace.N + 20 * trace.E),
                 "nuts-marginal or svi-marginal scale to it")  # fmt: skip


def _what(method: str, obs: Observations) -> str:
    return f"{method} on N={obs.N} agents, {obs.M} interactions"


LIMITS = {
    "nuts-marginal": marginal_limits,
    "svi-marginal": marginal_limits,
    "svi-normal": svi_normal_limits,
    "svi-nf": svi_nf_limits,
    "nuts": nuts_limits,
    "abc": abc_limits,
}
