"""numpyro's AutoBNAFNormal with block-masked layers that compile and run fast.

numpyro's `BlockMaskedDense` embeds its two (dN x dN) block masks as constants and fills
its weights with one `.at[].set` per block: for the PGABM's 2N+4 latent dimensions that is
10^7-element constants and thousands of ops, minutes of compilation. The layer below is the
same layer (same parameters (W, ws, b), same initial distribution, same output and
log-Jacobian, formula (8) of De Cao et al. with weight normalisation), with the masks built
from iota comparisons inside the fused elementwise pass and a vectorised initialisation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.example_libraries import stax
from numpyro.distributions.flows import BlockNeuralAutoregressiveTransform
from numpyro.distributions.transforms import PermuteTransform
from numpyro.distributions.util import logmatmulexp
from numpyro.infer.autoguide import AutoBNAFNormal
from numpyro.nn.block_neural_arn import FanInResidualGated, FanInResidualNormal, LeakyTanh


def block_masked_dense(num_blocks: int, in_factor: int, out_factor: int):
    """(init_fun, apply_fun) of numpyro's BlockMaskedDense (with bias), without constants.

    Block (i, j) of W maps input block i to output block j: exp(W) on the diagonal (positive),
    W above it, zero below, so output j depends on inputs 1..j only.
    """
    input_dim, out_dim = num_blocks * in_factor, num_blocks * out_factor

    def block_of(factor, axis):
        return jax.lax.broadcasted_iota(jnp.int32, (input_dim, out_dim), axis) // factor

    def init_fun(rng, input_shape):
        k_w, k_s, k_b = jax.random.split(rng, 3)
        row, col = block_of(in_factor, 0), block_of(out_factor, 1)
        # glorot_uniform on column block j, whose first (j+1) in_factor rows are used
        limit = jnp.sqrt(6.0 / ((col + 1) * in_factor + out_factor))
        W = jax.random.uniform(k_w, (input_dim, out_dim), minval=-1.0, maxval=1.0) * limit
        W = jnp.where(row <= col, W, 0.0)
        ws = jnp.log(jax.random.uniform(k_s, (out_dim,)))
        b = (jax.random.uniform(k_b, (out_dim,)) - 0.5) * (2 / jnp.sqrt(out_dim))
        return input_shape[:-1] + (out_dim,), (W, ws, b)

    def apply_fun(params, inputs, **kwargs):
        x, logdet = inputs
        W, ws, b = params
        row, col = block_of(in_factor, 0), block_of(out_factor, 1)
        w = jnp.where(row == col, jnp.exp(W), jnp.where(row < col, W, 0.0))
        w_norm = jnp.linalg.norm(w, axis=-2)
        out = jnp.dot(x, w) * (jnp.exp(ws) / w_norm) + b
        W_diag = jnp.diagonal(
            W.reshape(num_blocks, in_factor, num_blocks, out_factor), axis1=0, axis2=2
        )  # (in_factor, out_factor, num_blocks)
        scale = (ws - jnp.log(w_norm)).reshape(num_blocks, 1, out_factor)
        dense_logdet = jnp.moveaxis(W_diag, -1, 0) + scale
        if logdet is None:
            logdet = jnp.broadcast_to(dense_logdet, x.shape[:-1] + dense_logdet.shape)
        else:
            logdet = logmatmulexp(logdet, dense_logdet)
        return out, logdet

    return init_fun, apply_fun


def block_neural_arn(input_dim: int, hidden_factors, residual: str | None = None):
    """numpyro's BlockNeuralAutoregressiveNN (LeakyTanh activations) on the fast layer."""
    layers = []
    in_factor = 1
    for hidden_factor in hidden_factors:
        layers += [block_masked_dense(input_dim, in_factor, hidden_factor), LeakyTanh()]
        in_factor = hidden_factor
    layers.append(block_masked_dense(input_dim, in_factor, 1))
    arn = stax.serial(*layers)
    if residual is not None:
        fan_in = FanInResidualGated if residual == "gated" else FanInResidualNormal
        arn = stax.serial(stax.FanOut(2), stax.parallel(arn, stax.Identity), fan_in())

    def init_fun(rng, input_shape):
        return arn[0](rng, input_shape)

    def apply_fun(params, inputs, **kwargs):
        out, logdet = arn[1](params, (inputs, None), **kwargs)
        return out, logdet.reshape(inputs.shape)

    return init_fun, apply_fun


class FastAutoBNAFNormal(AutoBNAFNormal):
    """AutoBNAFNormal (same flows, permutations, gating and parameters) on the fast layer."""

    def _get_posterior(self):
        flows = []
        for i in range(self.num_flows):
            if i > 0:
                flows.append(PermuteTransform(jnp.arange(self.latent_dim)[::-1]))
            residual = "gated" if i < (self.num_flows - 1) else None
            arn = block_neural_arn(self.latent_dim, self._hidden_factors, residual)
            arnn = numpyro.module(f"{self.prefix}_arn__{i}", arn, (self.latent_dim,))
            flows.append(BlockNeuralAutoregressiveTransform(arnn))
        return dist.TransformedDistribution(self.get_base_dist(), flows)
