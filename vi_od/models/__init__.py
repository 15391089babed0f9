"""Opinion-dynamics models: each a package owning its parameters, priors, simulator and likelihood.

`bcm_roles` is the bounded-confidence model with backfire and two roles (the paper's). A
model reaches the inference methods as one `Model` record of its pieces, handed to them
(`Method.fit(..., model=)`); no method imports a model. A second model with continuous
parameters and a binary role per agent is a new package here exposing its own `Model`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Relaxed:
    """The likelihood with every role relaxed to (0, 1) (Gumbel-Softmax): svi-normal,
    svi-nf, nuts. Its numpyro model samples "theta" (P + N unconstrained values: the
    parameters, then the role logits) and "roles" (N,), and records the parameters as "eps"."""

    table: Callable  # (obs) -> the data the model reads, tabulated per agent (O(N) per step)
    exact: Callable  # (obs) -> (model over (arrays, temperature), arrays): every interaction
    model: Callable  # numpyro model (data, temperature)
    table_bytes: Callable  # (obs) -> peak bytes of building and holding `table(obs)`


@dataclass(frozen=True)
class Collapsed:
    """The likelihood with the roles summed out per agent: nuts-marginal, svi-marginal.
    Its numpyro model samples "theta" (P,) and the leader share "pi" (unless fixed), and
    records the parameters as "eps" and "pi"."""

    table: Callable  # (obs) -> the data the model reads (per-agent, O(N) per step)
    model: Callable  # numpyro model (data, pi_prior, pi_fixed)
    leader_probability: Callable  # (params, pi, data) -> (N,) P(leader | params, pi, data)
    table_bytes: Callable  # (obs) -> peak bytes of building and holding `table(obs)`


@dataclass(frozen=True)
class Simulator:
    """Forward simulation of what was observed, for the likelihood-free methods (abc,
    abc-smc). `observe` gives a pytree with at least X0 (N,) and summary (steps, 2): the
    positive and negative interactions per step; the counts functions give the same two
    per-step counts for a simulation."""

    observe: Callable  # (obs) -> observed pytree
    counts: Callable  # (key, params, roles, observed) -> (s+ (steps,), s- (steps,))
    rule_counts: Callable  # (params, roles, observed) -> the same, by the deterministic rules


@dataclass(frozen=True)
class Model:
    """A model as the methods see it: P named parameters with the prior N(0, 1)^P pushed
    through `from_theta`, a binary role per agent, and its three likelihood views.

    Frozen and hashable (its fields are names and functions), so compiled programs can
    take it as a static argument: one compile per model and data shape.
    """

    name: str
    param_names: tuple[str, ...]
    swap: tuple[int, ...]  # the parameters' order once leaders and followers swap labels
    from_theta: Callable  # (..., P) unconstrained -> (..., P) parameters
    relaxed: Relaxed
    collapsed: Collapsed
    simulator: Simulator

    @property
    def n_params(self) -> int:
        return len(self.param_names)


def default_model() -> Model:
    """The model vi-od fits unless told otherwise: the paper's BCM with roles."""
    from vi_od.models.bcm_roles.model import BCM_ROLES

    return BCM_ROLES
