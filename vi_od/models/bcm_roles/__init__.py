"""The bounded-confidence model with backfire and two roles (leaders L, followers F).

What every other layer needs to know about the model lives here: its parameter names and
their layout, the transform from the unconstrained space the priors live in, the label
symmetry, and the paper's grid of true values. The simulator (`simulate`), the relaxed
likelihood (`relaxed`) and the collapsed one (`collapsed`) are its submodules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vi_od.errors import require

if TYPE_CHECKING:
    import jax

EPS_NAMES = ("eps_plus_F", "eps_plus_L", "eps_minus_F", "eps_minus_L")
EPS_LABELS = tuple(rf"$\varepsilon^{s}_{r}$" for s in "+-" for r in "FL")  # figures' TeX
SWAP_ROLES = [1, 0, 3, 2]  # [F+, L+, F-, L-] -> [L+, F+, L-, F-]: the label swap
EPS_PLUS_GRID = (0.05, 0.15, 0.25, 0.35, 0.45)
EPS_MINUS_GRID = (0.55, 0.65, 0.75, 0.85, 0.95)


def eps_from_theta(theta4: jax.Array) -> jax.Array:
    """eps+ = sigmoid(theta)/2 in (0, 1/2), eps- = sigmoid(theta)/2 + 1/2 in (1/2, 1)."""
    import jax  # here, not above: the trace reader and the CLI's errors need no JAX
    import jax.numpy as jnp

    half = jax.nn.sigmoid(theta4) / 2
    return half + jnp.array([0.0, 0.0, 0.5, 0.5])


def validate_eps(eps: Sequence[float], key: str) -> None:
    """eps = [eps+_F, eps+_L, eps-_F, eps-_L], in range and ordered as in the paper."""
    require(len(eps) == 4, key, list(eps), "4 numbers [eps+_F, eps+_L, eps-_F, eps-_L]")
    pf, pl, mf, ml = eps
    require(all(0 <= e <= 0.5 for e in (pf, pl)), key, list(eps), "eps+ in [0, 0.5]")
    require(all(0.5 <= e <= 1 for e in (mf, ml)), key, list(eps), "eps- in [0.5, 1]")
    require(pf >= pl, key, list(eps), "ordered with eps+_F >= eps+_L")
    require(mf <= ml, key, list(eps), "ordered with eps-_F <= eps-_L")
