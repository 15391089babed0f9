"""Opinion-dynamics models as plug-ins: each a package exposing one `Model` record.

A model owns everything about itself: its parameter names and prior transform, its discrete
latents (a binary one per agent, global ones), its likelihood views, its simulator and
simulator settings (conf/model/<name>.yaml), the extra checks of its truth, its predictive
replicate and its prior draws. The layers above (data readers, methods, fit record, sweeps,
report, CLI) take the record they are handed and never import a model package.

Models are found by name (`get_model`): the built-in ones in `BUILTIN`, or any
`package.module:ATTRIBUTE` path to a `Model` outside vi_od (a lab's own model).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from vi_od.data.columns import Columns
from vi_od.errors import ViOdError


@dataclass(frozen=True)
class Relaxed:
    """The likelihood with the discrete latents relaxed to (0, 1) (Gumbel-Softmax): svi-normal,
    svi-nf, nuts. Its numpyro model takes (data, temperature) and samples "theta" (the P
    continuous parameters first, then the relaxed latents' logits); `unpack` turns a dict of
    its sites (with any leading sample axes) into (parameters (..., P + D), per-agent latent
    (..., N) or None), D the model's global discrete latents."""

    table: Callable  # (obs) -> the data the model reads, tabulated where it can be
    exact: Callable  # (obs) -> (model over (arrays, temperature), arrays): every interaction
    model: Callable  # numpyro model (data, temperature)
    table_bytes: Callable  # (obs) -> peak bytes of building and holding `table(obs)`
    unpack: Callable  # (sites dict) -> (parameters, per-agent latent or None)
    start: Callable | None = None  # (obs) -> {site: value} to start from; None: the method's own


@dataclass(frozen=True)
class Collapsed:
    """The likelihood with every discrete latent summed out exactly: nuts-marginal,
    svi-marginal. Its numpyro model takes (data, pi_prior, pi_fixed), samples "theta" (P,)
    (and the per-agent latent's share "pi", for a model with one) and records the continuous
    parameters as "params". `complete` draws the global discrete latents given each sample's
    parameters, (key, params (S, P), data) -> (S, P + D)."""

    table: Callable  # (obs) -> the data the model reads (O(N) or O(1) per step)
    model: Callable  # numpyro model (data, pi_prior, pi_fixed)
    table_bytes: Callable  # (obs) -> peak bytes of building and holding `table(obs)`
    leader_probability: Callable | None = None  # (params, pi, data) -> (N,) P(latent = 1)
    complete: Callable | None = None  # global discrete latents drawn given the parameters
    start: Callable | None = None  # (data) -> theta (P,) to start from (a multimodal posterior)


@dataclass(frozen=True)
class Simulator:
    """Forward simulation of what was observed, for the likelihood-free methods (abc,
    abc-smc). `observe` gives a pytree with at least `summary` (steps, K): K outcome counts
    per step; `binary` the number of binary latents a simulation draws (N for a per-agent
    latent, 1 for a global switch, 0 for none), each Bernoulli(1/2) a priori; the counts
    functions give a simulation's K per-step counts from continuous parameters (P,) and
    latents z: the binary ones, then any that `latents_from_theta` derives.

    Other discrete latents (a k in 1..F) are drawn through `extra_thetas` more N(0, 1)
    thetas after the parameters': `latents_from_theta((extra_thetas,), observed)` maps them
    to int32 latents whose prior is the model's (k = 1 + floor(F Phi(theta)) is uniform on
    1..F). The methods then move and weight them as the parameters' thetas."""

    observe: Callable  # (obs) -> observed pytree
    counts: Callable  # (key, params, z, observed) -> K arrays (steps,)
    rule_counts: Callable  # (params, z, observed) -> the same, by the deterministic rules
    binary: Callable  # (observed) -> number of binary latents
    extra_thetas: int = 0  # N(0, 1) thetas after the parameters' that latents_from_theta reads
    latents_from_theta: Callable | None = None  # (thetas (extra_thetas,), observed) -> (m,) int32

    def latents(self, binary, extra, observed):
        """z of one simulation: its binary latents (binary,), then those derived from its
        extra thetas (extra_thetas,); just the binary ones for a model without any."""
        if self.latents_from_theta is None:
            return binary
        import jax.numpy as jnp

        derived = self.latents_from_theta(extra, observed)
        return jnp.concatenate([binary.astype(jnp.int32), derived.astype(jnp.int32)])


@dataclass(frozen=True)
class Simulation:
    """How `vi-od simulate` and the sweep make data of this model (conf/model/<name>.yaml).

    `settings` is a frozen dataclass with `validate()`; `from_config(cfg)` builds it from a
    composed config; `simulate(settings, seed)` returns a Trace with its truth;
    `experiment_key(settings)` the numbers that seed a sweep's experiment. A model that can
    `stream` writes `vi-od simulate ... --out x.parquet` chunk by chunk, at any size:
    `stream(settings, seed, activity, snapshot_every)` returns a
    `vi_od.data.stream.StreamedLog`, and `stream_bytes(settings, snapshot_every)` its peak
    memory, checked before it starts."""

    settings: type
    from_config: Callable  # (composed DictConfig) -> settings
    simulate: Callable  # (settings, seed) -> Trace
    experiment_key: Callable  # (settings) -> tuple of numbers (part of the experiment seed)
    skip: Callable | None = None  # (config values) -> whether a grid cell is skipped
    skip_reason: str = ""  # what a skipped cell lacks, for the sweep's summary line
    identity: Callable | None = None  # (settings) -> the dict that names a job; default all fields
    stream: Callable | None = None  # (settings, seed, activity, snapshot_every) -> StreamedLog
    stream_bytes: Callable | None = None  # (settings, snapshot_every) -> peak bytes of `stream`


@dataclass(frozen=True)
class Pointwise:
    """Each agent's log-likelihood per posterior draw: the terms of model comparison (vi-od
    compare, docs/compare.md). Term v scores the outcomes (s+, s-) of every interaction agent v
    received, with v's own latent summed out inside it. `table(obs)` builds what the terms
    read, or refuses in one line data the model cannot score; `agents(params (S, P + D), pi
    (S,) or None, data)` gives (S, N); `opinion_gap(data)`, for a model that replays the
    opinions instead of reading the data's X, is how far the nearest replay is from X."""

    table: Callable  # (obs) -> the data the terms read
    agents: Callable  # (params, pi, data) -> (S, N) log-likelihood per draw and agent
    opinion_gap: Callable | None = None  # (data) -> max |X - replay|; None: reads X


@dataclass(frozen=True)
class Model:
    """A model as every layer sees it.

    Parameters: P continuous ones (`param_names`), prior N(0, 1)^P pushed through
    `from_theta`, then D global discrete latents (`discrete_names`), reported beside them as
    numbers. Latent per agent: a binary one (the BCM's leader role) when `swap` is set, the
    parameters' order once its two labels swap (the label symmetry). Frozen and hashable
    (names, tuples and functions), so compiled programs take it as a static argument.
    """

    name: str
    param_names: tuple[str, ...]
    from_theta: Callable  # (..., P) unconstrained -> (..., P) parameters
    relaxed: Relaxed | None = None
    collapsed: Collapsed | None = None
    simulator: Simulator | None = None
    swap: tuple[int, ...] | None = None  # None: no latent per agent
    discrete_names: tuple[str, ...] = ()
    scored: tuple[str, ...] = ()  # parameters of the headline error (rmse_eps); () = all continuous
    simulation: Simulation | None = None
    columns: Columns | None = None  # columns beyond the common ones (a feed): data.columns
    check_truth: Callable | None = None  # (params truth (P + D,), where) -> None or ViOdError
    statistics: Callable | None = None  # (trace) -> dict of numbers for the results row
    sbc: Callable | None = None  # (simulator dict, prior spec, seed) -> Trace of a prior draw
    prior_spec: Callable | None = None  # (method name, method settings) -> JSON-ready prior
    ppc: object | None = None  # module: draws_from_record, check, to_json, figure (vi-od check)
    published: Callable | None = None  # () -> DataFrame of published runs, our column names
    truth_names: tuple[str, ...] = ()  # the data's true parameters, if not `names` (rho learned)
    truth_values: Callable | None = None  # (data) -> values of truth_names; default data.eps
    rho_learned: Callable | None = None  # () -> this model with rho a parameter (model.rho=learn)
    labels: tuple[str, ...] = ()  # how figures write `names` (TeX), when not by the names
    pointwise: Pointwise | None = None  # per-agent log-likelihoods (vi-od compare)

    @property
    def n_params(self) -> int:
        """Continuous parameters: the length of theta."""
        return len(self.param_names)

    @property
    def names(self) -> tuple[str, ...]:
        """Every reported parameter: the continuous ones, then the global discrete latents."""
        return self.param_names + self.discrete_names

    @property
    def size(self) -> int:
        """Parameters counted for parsimony (vi-od compare's tie rule): the continuous ones,
        the global discrete ones, and one for a latent per agent with its share."""
        return len(self.names) + self.has_agents

    @property
    def has_agents(self) -> bool:
        """Whether the model has a binary latent per agent (P(latent = 1) is reported)."""
        return self.swap is not None

    def label(self, name: str) -> str:
        """A parameter's name as figures write it."""
        return dict(zip(self.names, self.labels)).get(name, name)

    def support(self) -> tuple[list[float], list[float]]:
        """Per continuous parameter, the range its prior covers (figure axes)."""
        import jax.numpy as jnp

        ends = [self.from_theta(jnp.full(self.n_params, t, jnp.float32)) for t in (-30.0, 30.0)]
        return [float(x) for x in ends[0]], [float(x) for x in ends[1]]

    @property
    def data_names(self) -> tuple[str, ...]:
        """The parameters a simulation of this model records as its truth, in order (rho
        learned is fitted, not simulated)."""
        return self.truth_names or self.names

    def truth(self, values) -> dict[str, float]:
        """The data's true parameters by name ({} when unknown or of another model)."""
        names = self.data_names
        if values is None or len(values) != len(names):
            return {}
        return {n: float(v) for n, v in zip(names, values)}

    def truth_of(self, data) -> dict[str, float]:
        """The true parameters of a trace or observations, by name ({} when unknown)."""
        if data is None or data.eps is None:
            return {}
        return self.truth(self.truth_values(data) if self.truth_values else data.eps)

    def view(self, kind: str, method: str):
        """The likelihood view a method needs, or a one-line refusal before any work."""
        found = getattr(self, kind)
        if found is None:
            wanted = {"relaxed": "a relaxed likelihood", "collapsed": "an exact likelihood",
                      "simulator": "a forward simulator"}[kind]  # fmt: skip
            raise ViOdError(f"method {method} needs {wanted}, which model {self.name} lacks")
        return found


LEARNED_RHO = "+rho"  # a model's name with this suffix: the model with rho learned
BUILTIN = {
    "bcm-roles": "vi_od.models.bcm_roles.model:BCM_ROLES",
    "deffuant": "vi_od.models.deffuant:DEFFUANT",
    "bcm-backfire": "vi_od.models.bcm_backfire:BCM_BACKFIRE",
    "bcm-feed": "vi_od.models.bcm_feed.model:BCM_FEED",
    "bcm-rewire": "vi_od.models.bcm_rewire.model:BCM_REWIRE",
    "bcm": "vi_od.models.bcm:BCM",
}
DEFAULT = "bcm-roles"
# Each built-in model's settings module, importable without JAX: its settings reader, and its
# COLUMNS, check_truth and TRUTH_NAMES where it has them. Bad input to `vi-od simulate`, `vi-od
# fit` or `vi-od inspect` (a data file's truth included) is answered before JAX starts.
SETTINGS = {
    "bcm-roles": "vi_od.models.bcm_roles.settings:settings_from_config",
    "deffuant": "vi_od.models.deffuant.settings:settings_from_config",
    "bcm-backfire": "vi_od.models.bcm_backfire.settings:settings_from_config",
    "bcm-feed": "vi_od.models.bcm_feed.settings:settings_from_config",
    "bcm-rewire": "vi_od.models.bcm_rewire.settings:settings_from_config",
    "bcm": "vi_od.models.bcm.settings:settings_from_config",
}


def _settings_module(base: str):
    """A built-in model's settings module: its face without JAX."""
    return importlib.import_module(SETTINGS[base].partition(":")[0])


def columns_of(name: str) -> Columns | None:
    """The model's own observation columns (None: the common ones only), without importing
    JAX for a built-in model: its settings module's COLUMNS."""
    base = name.removesuffix(LEARNED_RHO)
    if base in SETTINGS:
        return getattr(_settings_module(base), "COLUMNS", None)
    return get_model(name).columns


def truth_check(name: str) -> Callable | None:
    """The model's check of the truth a data file records (`Model.check_truth`), without
    importing JAX for a built-in model: its settings module's `check_truth`. A learned-rho
    model's files record its base model's truth (rho rides beside it)."""
    base = name.removesuffix(LEARNED_RHO)
    if base in SETTINGS:
        return _settings_module(base).check_truth
    return get_model(base).check_truth


def truth_names(name: str) -> tuple[str, ...]:
    """The names of the truth a data file of model `name` records, in order: a built-in
    model's settings module's TRUTH_NAMES where it has them (no JAX), else its record's."""
    base = name.removesuffix(LEARNED_RHO)
    if base in SETTINGS and hasattr(_settings_module(base), "TRUTH_NAMES"):
        return _settings_module(base).TRUTH_NAMES
    return get_model(base).data_names


def settings_reader(name: str) -> Callable:
    """(config values) -> the model's simulator settings, without importing JAX where it can."""
    base = name.removesuffix(LEARNED_RHO)
    if base in SETTINGS:
        return getattr(_settings_module(base), SETTINGS[base].partition(":")[2])
    model = get_model(name)
    if model.simulation is None:
        raise ViOdError(f"model {model.name} has no simulator")
    return model.simulation.from_config


@functools.cache
def get_model(name: str) -> Model:
    """The model called `name` (a built-in one, or `package.module:ATTRIBUTE`, which becomes
    its name: fit files and sweep rows name a model by what finds it again)."""
    if name.endswith(LEARNED_RHO):
        base = get_model(name.removesuffix(LEARNED_RHO))
        if base.rho_learned is None:
            raise ViOdError(f"model.rho=learn: model {base.name} cannot learn rho yet")
        return dataclasses.replace(base.rho_learned(), name=name)
    path = BUILTIN.get(name, name)
    module, _, attribute = path.partition(":")
    if not attribute:
        raise ViOdError(f"unknown model '{name}' (available: {', '.join(BUILTIN)})")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ViOdError(f"model '{name}': cannot import {path} ({exc})") from None
    if not isinstance(found, Model):
        raise ViOdError(f"model '{name}': {path} is not a vi_od.models.Model")
    return found if name in BUILTIN else dataclasses.replace(found, name=name)


def default_model() -> Model:
    """The model vi-od fits unless told otherwise: the paper's BCM with roles."""
    return get_model(DEFAULT)
