"""numpyro's AutoBNAFNormal with block-masked layers that compile and run fast.

numpyro's `BlockMaskedDense` keeps a dense (d a x d b) weight matrix of which only the
upper block triangle is used, embeds its two block masks as constants and fills the weights
with one `.at[].set` per block: for the PGABM's 2N+4 latent dimensions that is 10^7-element
constants, thousands of ops (minutes of compiling) and twice the work per step. The layer
below is the same layer (formula (8) of De Cao et al.: positive diagonal blocks exp(W),
free blocks above them, weight normalisation; same initial distribution, same outputs and
log-Jacobian) with the upper block triangle packed: row blocks p and d-1-p share one row of
d+1 blocks, so the parameters, the gradients and Adam touch only the blocks in use.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.example_libraries import stax
from numpyro.distributions.flows import BlockNeuralAutoregressiveTransform
from numpyro.distributions.transforms import AffineTransform, PermuteTransform
from numpyro.distributions.util import logmatmulexp
from numpyro.infer.autoguide import AutoBNAFNormal
from numpyro.nn.block_neural_arn import FanInResidualGated, FanInResidualNormal, LeakyTanh


class PackedLayout:
    """Where block (row r, column c), r <= c, of a d x d block triangle sits when packed.

    Packed row p (of d/2) holds row block p at slots k < d - p (column p + k) and row block
    d-1-p at slots k >= d - p (column k - 1): (d/2, d+1) slots, every used block once.
    """

    def __init__(self, num_blocks: int):
        if num_blocks % 2:
            raise ValueError(f"packed block layers need an even number of blocks, got {num_blocks}")
        d, half = num_blocks, num_blocks // 2
        p, k = np.arange(half)[:, None], np.arange(d + 1)[None, :]
        self.num_blocks = d
        self.first = k < d - p  # slot belongs to row block p (else to row block d-1-p)
        self.row = np.where(self.first, p, d - 1 - p)
        self.col = np.where(self.first, p + k, k - 1)
        self.rows = _with_vjp(self._rows, self._rows_transposed)
        self.columns = _with_vjp(self._columns, self._columns_transposed)

    def _rows(self, x):
        """x (..., d, a) -> the input block of every slot (..., d/2, d+1, a)."""
        return x[..., self.row, :]

    def _rows_transposed(self, g):
        """Sum slot cotangents (..., d/2, d+1, a) back onto their row blocks (..., d, a)."""
        first = self.first[..., None]
        own = jnp.where(first, g, 0.0).sum(-2)
        partner = jnp.where(first, 0.0, g).sum(-2)[..., ::-1, :]
        return jnp.concatenate([own, partner], axis=-2)

    def _columns(self, y):
        """Sum per-slot values y (..., d/2, d+1, b) into their columns (..., d, b)."""
        d = self.num_blocks
        first = self.first[..., None]
        shifted = _shift_rows(jnp.where(first, y, 0.0)[..., :d, :])  # column p + k
        return shifted.sum(-3)[..., :d, :] + jnp.where(first, 0.0, y)[..., 1:, :].sum(-3)

    def _columns_transposed(self, g):
        """Hand each column's cotangent (..., d, b) to the slots of that column."""
        return g[..., self.col, :]

    def diagonal_blocks(self, P):
        """The diagonal blocks (d, a, b) of packed P (d/2, d+1, a, b), in row order."""
        half = self.num_blocks // 2
        p = np.arange(half)
        return jnp.concatenate([P[p, 0], P[p, self.num_blocks - p][::-1]])

    def pack(self, W, in_factor: int, out_factor: int):
        """Packed blocks of a dense (d a, d b) weight matrix (numpyro's layout)."""
        d = self.num_blocks
        blocks = jnp.asarray(W).reshape(d, in_factor, d, out_factor)
        return blocks[self.row, :, self.col, :]


def _with_vjp(f, f_transposed):
    """f (linear) differentiated by the given transpose, not by the transposes of its parts.

    Autodiff would transpose the pads, reshapes and selects inside f into index arithmetic
    that XLA then fuses into the loops over all blocks; the gathers and sums here are cheap.
    """
    f = jax.custom_vjp(f)
    f.defvjp(lambda x: (f(x), None), lambda _, g: (f_transposed(g),))
    return f


def _shift_rows(y):
    """Row i of y (..., n, m, b) shifted right by i slots (zeros enter): pad and re-cut."""
    *batch, n, m, b = y.shape
    flat = jnp.pad(y, [(0, 0)] * len(batch) + [(0, 0), (0, n), (0, 0)])
    flat = flat.reshape(*batch, n * (m + n), b)[..., : n * (m + n - 1), :]
    return flat.reshape(*batch, n, m + n - 1, b)


@jax.custom_vjp
def _slot_products(P, x_slots):
    """Per slot, x_slot @ P_slot (..., d/2, d+1, b) and the column sums of P_slot^2.

    The sums over the small block axes are written out (a few strided adds): XLA's
    reductions and batched dots over 8 x 8 blocks are several times slower.
    """
    if x_slots.ndim == P.ndim - 1:  # one sample
        y = _sum_rows(x_slots[..., :, None] * P)
    else:  # a batch: no (batch, blocks) intermediate
        y = jnp.einsum("...pka,pkab->...pkb", x_slots, P)
    return y, _sum_rows(P * P)


def _sum_rows(blocks):
    """Sum (..., a, b) over a, unrolled."""
    return sum(blocks[..., i, :] for i in range(blocks.shape[-2]))


def _slot_products_fwd(P, x_slots):
    return _slot_products(P, x_slots), (P, x_slots)


def _slot_products_bwd(residuals, cotangents):
    P, x_slots = residuals
    g_y, g_sq = cotangents
    if x_slots.ndim == P.ndim - 1:  # one sample: an outer product per slot
        g_P = x_slots[..., :, None] * g_y[..., None, :]
    else:
        g_P = jnp.einsum("...pka,...pkb->pkab", x_slots, g_y)
    g_P = g_P + 2 * P * g_sq[..., None, :]
    g_x = sum(P[..., j] * g_y[..., j, None] for j in range(P.shape[-1]))
    return g_P, g_x


_slot_products.defvjp(_slot_products_fwd, _slot_products_bwd)


def block_masked_dense(num_blocks: int, in_factor: int, out_factor: int):
    """(init_fun, apply_fun) of numpyro's BlockMaskedDense (with bias) on packed blocks.

    Block (r, c) maps input block r to output block c: exp(W) on the diagonal (positive),
    W above it, none below, so output c depends on inputs 1..c only.
    """
    layout = PackedLayout(num_blocks)
    out_dim = num_blocks * out_factor

    def init_fun(rng, input_shape):
        k_w, k_s, k_b = jax.random.split(rng, 3)
        # glorot_uniform on column block c, whose first (c+1) in_factor rows are used
        limit = np.sqrt(6.0 / ((layout.col + 1) * in_factor + out_factor))[..., None, None]
        shape = layout.first.shape + (in_factor, out_factor)
        P = jax.random.uniform(k_w, shape, minval=-1.0, maxval=1.0) * limit
        # numpyro draws log U(0, 1), which is -inf when the draw is exactly 0 (about 1 in
        # 10^4 inits of these layers: a NaN loss at step 1). minval = the smallest normal
        # float leaves every other draw bit for bit as it was.
        tiny = jnp.finfo(jnp.float32).tiny
        ws = jnp.log(jax.random.uniform(k_s, (out_dim,), minval=tiny))
        b = (jax.random.uniform(k_b, (out_dim,)) - 0.5) * (2 / jnp.sqrt(out_dim))
        return input_shape[:-1] + (out_dim,), (P, ws, b)

    def apply_fun(params, inputs, **kwargs):
        x, logdet = inputs
        P, ws, b = params
        x_blocks = x.reshape(*x.shape[:-1], num_blocks, in_factor)
        # P as if its diagonal blocks D were already exp(D), then the difference on D only
        D = layout.diagonal_blocks(P)
        y, sq = _slot_products(P, layout.rows(x_blocks))
        z = layout.columns(y) + jnp.einsum("...ra,rab->...rb", x_blocks, jnp.exp(D) - D)
        col_sq = layout.columns(sq) + jnp.sum(jnp.exp(2 * D) - D * D, axis=-2)
        w_norm = jnp.sqrt(col_sq).reshape(out_dim)
        out = z.reshape(*x.shape[:-1], out_dim) * (jnp.exp(ws) / w_norm) + b
        scale = (ws - jnp.log(w_norm)).reshape(num_blocks, 1, out_factor)
        dense_logdet = D + scale
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
    """AutoBNAFNormal (same flows, permutations, gating and parameters) on the fast layer.

    The packed layer pairs blocks: a posterior of odd dimension (a model with no latent per
    agent, e.g. one or three parameters) takes numpyro's own layer. `centred`: the flow's
    output is shifted by a learned location that starts at `init_loc_fn`'s point, so a model
    with a start (`Relaxed.start`: a multimodal posterior) has its flow begin around it, as
    the normal guide's location does; without, the flow is numpyro's, unchanged.
    """

    def __init__(self, model, *, centred: bool = False, **kwargs):
        self._centred = centred
        super().__init__(model, **kwargs)

    def _get_posterior(self):
        flow = super()._get_posterior() if self.latent_dim % 2 else self._packed_flow()
        if not self._centred:
            return flow
        shift = numpyro.param(f"{self.prefix}_shift", self._init_latent)
        return dist.TransformedDistribution(flow, [AffineTransform(shift, 1.0)])

    def _packed_flow(self):
        flows = []
        for i in range(self.num_flows):
            if i > 0:
                flows.append(PermuteTransform(jnp.arange(self.latent_dim)[::-1]))
            residual = "gated" if i < (self.num_flows - 1) else None
            arn = block_neural_arn(self.latent_dim, self._hidden_factors, residual)
            arnn = numpyro.module(f"{self.prefix}_arn__{i}", arn, (self.latent_dim,))
            flows.append(BlockNeuralAutoregressiveTransform(arnn))
        return dist.TransformedDistribution(self.get_base_dist(), flows)
