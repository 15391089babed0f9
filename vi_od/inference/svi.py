"""SVI on a model's relaxed form (the paper's relaxed PGABM): mean-field normal and block
neural autoregressive flow guides.

Paper section 4: AutoNormal with Adam 0.01 for 20000 steps, AutoBNAFNormal (2 flows,
hidden factors [8, 8]) with Adam 0.01 for 10000 steps; estimates from 200 guide samples.

The loop runs compiled, in chunks of a jitted `lax.scan` over `SVI.update`, with a progress
bar between chunks. numpyro sets a guide up by running the model; done eagerly that is
hundreds of tiny compilations, so every compiled function below builds its own SVI inside
the trace and the set-up costs one program per (guide, model, trace shape). The likelihood
is read from the model's table (`model.relaxed.table`; for the BCM with roles the per-agent
`relaxed_table`), whose shape depends on N only: traces of equal N share programs.
Independent restarts run in the same program (side by side for the normal guide, one
after the other for flows) and the best final ELBO is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import SVI, Trace_ELBO, init_to_value
from numpyro.infer.autoguide import AutoNormal
from numpyro.optim import Adam

from vi_od.data.observations import Observations
from vi_od.errors import ViOdError
from vi_od.inference import Method
from vi_od.inference import require_setting as _require
from vi_od.inference.flows import FastAutoBNAFNormal
from vi_od.inference.loop import run_chunked
from vi_od.inference.posterior import Posterior, label_switched, make_posterior
from vi_od.models import Model
from vi_od.progress import task

CHUNK = 500  # steps per compiled chunk: the progress bar moves between chunks
# Programs that run once (initialisation, sampling) take milliseconds at any optimisation
# level, but LLVM's full optimisation of them costs seconds of compiling.
RUN_ONCE = {"xla_backend_optimization_level": 0}
FINAL_SHARE = 0.05  # final loss = mean of the last 5% of the losses (the ELBO estimate)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class NormalSettings:
    """svi-normal: steps of Adam(lr) on the ELBO of AutoNormal; conf/method/svi-normal.yaml."""

    steps: int = 20000
    lr: float = 0.01
    temperature: float = 0.1  # Gumbel-Softmax temperature of the relaxed roles
    num_samples: int = 200  # guide samples behind the estimates
    restarts: int = 1  # independent initialisations; the best final ELBO is kept
    temperature_start: float | None = None  # anneal from it to `temperature` (None: constant)

    def validate(self):
        """Raise ViOdError naming the first bad key; lists become tuples (hashable)."""
        _require(_is_int(self.steps) and self.steps >= 1, "steps", self.steps, "an integer >= 1")
        for key in ("lr", "temperature"):
            value = getattr(self, key)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            _require(ok and np.isfinite(value), key, value, "a number > 0")
        for key in ("num_samples", "restarts"):
            value = getattr(self, key)
            _require(_is_int(value) and value >= 1, key, value, "an integer >= 1")
        start = self.temperature_start
        ok = start is None or (isinstance(start, (int, float)) and not isinstance(start, bool))
        _require(ok and (start is None or start > 0), "temperature_start", start, "null or > 0")
        return self

    def temperatures(self) -> np.ndarray:
        """The temperature of every step: constant, or annealed from temperature_start.

        Geometric over the first half of the steps, then constant: the final ELBO, kept and
        compared between restarts, is the one at the target temperature.
        """
        if self.temperature_start is None:
            return np.full(self.steps, self.temperature, np.float32)
        ramp = np.minimum(np.arange(self.steps) / max(1, self.steps // 2), 1.0)
        ratio = self.temperature / self.temperature_start
        return (self.temperature_start * ratio**ramp).astype(np.float32)


@dataclass(frozen=True)
class FlowSettings(NormalSettings):
    """svi-nf: AutoBNAFNormal with num_flows flows of hidden_factors; conf/method/svi-nf.yaml."""

    steps: int = 10000
    num_flows: int = 2
    hidden_factors: tuple[int, ...] = (8, 8)

    def validate(self):
        super().validate()
        flows = self.num_flows
        _require(_is_int(flows) and flows >= 1, "num_flows", flows, "an integer >= 1")
        factors = self.hidden_factors
        ok = isinstance(factors, (list, tuple)) and len(factors) >= 1
        ok = ok and all(_is_int(f) and f >= 1 for f in factors)
        _require(ok, "hidden_factors", factors, "a non-empty list of integers >= 1")
        return dataclasses.replace(self, hidden_factors=tuple(factors))


class Guide(NamedTuple):
    """What the compiled functions need to rebuild the same guide: hashable, static under jit."""

    kind: str  # "normal" | "bnaf"
    num_flows: int = 0
    hidden_factors: tuple[int, ...] = ()


def _guide(settings: NormalSettings) -> Guide:
    if isinstance(settings, FlowSettings):
        return Guide("bnaf", settings.num_flows, settings.hidden_factors)
    return Guide("normal")


def _svi(guide: Guide, model: Model, lr=0.01, start: dict | None = None) -> SVI:
    """A fresh SVI for the model's relaxed form (model arguments: data, temperature).

    lr may be traced: a new learning rate does not compile anew. `start`: the model's start
    values (Relaxed.start): the normal guide's initial location, the centre a flow starts at.
    """
    relaxed, centred = model.relaxed.model, model.relaxed.start is not None  # centred: a shape
    if guide.kind == "bnaf":
        starts = {} if start is None else {"init_loc_fn": init_to_value(values=start)}
        auto = FastAutoBNAFNormal(
            relaxed, num_flows=guide.num_flows,
            hidden_factors=list(guide.hidden_factors), centred=centred, **starts,
        )  # fmt: skip
    elif start is not None:
        auto = AutoNormal(relaxed, init_loc_fn=init_to_value(values=start))
    else:
        auto = AutoNormal(relaxed)
    return SVI(relaxed, auto, Adam(lr), Trace_ELBO())


def _ready(guide: Guide, model: Model, data, temperature, lr=0.01) -> SVI:
    """An SVI whose guide and parameter constraints are set up; its init is dead code."""
    svi = _svi(guide, model, lr)
    svi.init(jax.random.PRNGKey(0), data, temperature)
    return svi


@partial(jax.jit, static_argnums=(0, 1), compiler_options=RUN_ONCE)
def _init(guide: Guide, model: Model, keys, data, temperature, start=None):
    """One SVI state per key, stacked on a leading restart axis."""
    svi = _svi(guide, model, start=start)
    return jax.vmap(lambda key: svi.init(key, data, temperature))(keys)


@partial(jax.jit, static_argnums=(0, 1, 2), donate_argnums=3)
def _chunk(guide: Guide, model: Model, length: int, states, data, temperatures, lr, n_active):
    """`length` SVI steps of every restart at the given temperatures (length,); steps from
    `n_active` on leave the state as is.

    Masking the tail keeps one chunk length, so the last, shorter chunk does not re-trace.
    The states are donated: a flow's parameters and Adam moments are not copied per chunk.
    """
    svi = _ready(guide, model, data, temperatures[0], lr)

    def step(state, inputs):
        i, temperature = inputs
        update = lambda state: svi.update(state, data, temperature)
        return jax.lax.cond(i < n_active, update, lambda state: (state, jnp.float32(0)), state)

    scan = lambda state: jax.lax.scan(step, state, (jnp.arange(length), temperatures))
    if guide.kind == "normal":  # O(N) per step: restarts side by side cost almost nothing
        return jax.vmap(scan)(states)
    return jax.lax.map(scan, states)  # flows: batched weights would slow every matrix op


@partial(jax.jit, static_argnums=(0, 1, 2), compiler_options=RUN_ONCE)
def _draw(guide: Guide, model: Model, num_samples: int, key, state, data, temperature):
    """Guide samples of the parameters (S, P) and of the relaxed per-agent latents (S, N, or
    None for a model without them) at one state.

    One sample at a time (lax.map): a batch of flow samples would hold S copies of every
    layer's per-block intermediates.
    """
    svi = _ready(guide, model, data, temperature)
    params = svi.get_params(state)
    draw = lambda k: svi.guide.sample_posterior(k, params, data, temperature)
    latent = jax.lax.map(draw, jax.random.split(key, num_samples))
    return model.relaxed.unpack(latent)


class Run(NamedTuple):
    """Optimised states of every restart and their losses (restart, step)."""

    states: object
    losses: np.ndarray


def optimise(
    guide: Guide,
    model: Model,
    data,
    temperatures: np.ndarray,
    lr: float,
    keys,
    *,
    chunk: int = CHUNK,
    description: str = "SVI",
    start: dict | None = None,
) -> Run:
    """Run one SVI step per temperature from one initialisation per key, in compiled chunks.

    Raises ViOdError when every restart's loss has become NaN or infinite.
    """
    steps, lr = len(temperatures), jnp.float32(lr)
    states = _init(guide, model, keys, data, jnp.float32(temperatures[-1]), start)
    length = min(chunk, steps)
    padded = np.concatenate([temperatures, np.full(length, temperatures[-1], np.float32)])
    losses = []

    def run(states, start, n):
        temperatures = jnp.asarray(padded[start : start + length])
        return _chunk(guide, model, length, states, data, temperatures, lr, n)

    def after(start, n, chunk_losses):
        losses.append(np.asarray(chunk_losses)[:, :n])
        _stop_if_diverged(np.concatenate(losses, axis=1))
        return {"loss": float(np.nanmin(losses[-1][:, -1]))}

    with task(description, total=steps) as advance:
        states, _ = run_chunked(run, states, steps, length, advance, after)
    return Run(states, np.concatenate(losses, axis=1))


def _stop_if_diverged(losses: np.ndarray) -> None:
    """NaN or infinite loss in every restart: stop and say at which step it happened."""
    bad = ~np.isfinite(losses)
    if bad.any(axis=1).all():
        step = int(bad.argmax(axis=1).min()) + 1
        raise ViOdError(f"loss became NaN at step {step}; try a smaller method.lr")


def final_losses(losses: np.ndarray) -> np.ndarray:
    """Per restart, the mean of the last FINAL_SHARE of the losses (inf once diverged)."""
    tail = max(1, int(round(losses.shape[1] * FINAL_SHARE)))
    final = losses[:, -tail:].mean(axis=1)
    return np.where(np.isfinite(losses).all(axis=1), final, np.inf)


def fit(
    obs: Observations,
    settings: NormalSettings,
    key,
    model: Model,
    *,
    name: str,
    chunk: int = CHUNK,
):
    """Fit by SVI; estimates from `num_samples` draws of the best restart's guide."""
    data = model.relaxed.table(obs)
    guide = _guide(settings)
    k_init, k_draw = jax.random.split(key)
    run = optimise(
        guide,
        model,
        data,
        settings.temperatures(),
        settings.lr,
        jax.random.split(k_init, settings.restarts),
        chunk=chunk,
        description=name,
        start=None if model.relaxed.start is None else model.relaxed.start(obs),
    )
    final = final_losses(run.losses)
    best = int(np.argmin(final))
    state = jax.tree.map(lambda x: x[best], run.states)
    temperature = jnp.float32(settings.temperature)
    params, roles = _draw(guide, model, settings.num_samples, k_draw, state, data, temperature)
    roles = None if roles is None else np.asarray(roles)
    return _posterior(name, model, np.asarray(params), roles, final, best, settings.steps)


def _posterior(name, model: Model, params, roles, final, best, steps) -> Posterior:
    """Estimates as in the paper; raw draws (1 chain) follow the same label switch."""
    info = {
        "steps": steps,
        "final_loss": float(final[best]),
        "restarts": len(final),
        "best_restart": best,
        "restart_final_losses": [float(x) if np.isfinite(x) else None for x in final],
    }
    if roles is None:
        post = make_posterior(name, params, None, info=info, model=model)
        return dataclasses.replace(post, draws={"params": post.samples[None]})
    p_leader = roles.mean(axis=0)
    if label_switched(p_leader):
        roles = 1.0 - roles
    post = make_posterior(name, params, p_leader, roles.std(axis=0), info, model=model)
    draws = {"params": post.samples[None], "roles": roles[None]}
    return dataclasses.replace(post, draws=draws)


METHODS = {
    "svi-normal": Method("svi-normal", partial(fit, name="svi-normal"), NormalSettings, "relaxed"),
    "svi-nf": Method("svi-nf", partial(fit, name="svi-nf"), FlowSettings, "relaxed"),
}
