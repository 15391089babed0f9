"""Observations: every observed interaction as one row of a flat, typed table.

This is what every inference method reads, whatever the input format: the `.npz` trace
(`vi_od.data.trace.to_observations`) and event logs (`vi_od.data.eventlog`) are readers of
it. The likelihood needs, per interaction, only the receiver, |x_u - x_v| just before it
and the outcomes s+ and s-; the time index, the sender and the two opinions are kept for
checks, replays and per-agent output. Rows are in time order; rows with the same time
read the opinions from before that instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vi_od.errors import ViOdError

if TYPE_CHECKING:
    from vi_od.data.trace import Trace


@dataclass(frozen=True, eq=False)
class Observations:
    """M interactions among N agents (columns of length M), the agents' ids and any truth."""

    time: np.ndarray  # (M,) int64 step index, non-decreasing
    sender: np.ndarray  # (M,) int32 u, index into agent_ids
    receiver: np.ndarray  # (M,) int32 v, whose role sets the thresholds
    sender_opinion: np.ndarray  # (M,) float32 x_u just before the interaction
    receiver_opinion: np.ndarray  # (M,) float32 x_v just before the interaction
    s_plus: np.ndarray  # (M,) int8 1 = attraction
    s_minus: np.ndarray  # (M,) int8 1 = backfire
    agent_ids: np.ndarray  # (N,) the user's ids (strings or integers)
    rho: float = 32.0  # steepness of the interaction sigmoid
    mu_plus: np.ndarray | None = None  # (2,) [F, L] when known (simulations, .npz traces)
    mu_minus: np.ndarray | None = None
    roles: np.ndarray | None = None  # (N,) int8 truth, 1 = leader
    eps: np.ndarray | None = None  # (4,) truth [F+, L+, F-, L-]
    trace: Trace | None = None  # the dense (T, N) source, when the data came as one
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # a model's own columns (M, ...): data.columns

    @property
    def N(self) -> int:
        return int(self.agent_ids.shape[0])

    @property
    def M(self) -> int:
        return int(self.receiver.shape[0])

    @property
    def abs_diff(self) -> np.ndarray:
        """|x_u - x_v| of every interaction (float32), what the likelihood reads."""
        return np.abs(self.sender_opinion - self.receiver_opinion)

    @property
    def has_truth(self) -> bool:
        return self.roles is not None and self.eps is not None

    def received(self) -> np.ndarray:
        """(N,) number of interactions each agent received."""
        return np.bincount(self.receiver, minlength=self.N)

    def fingerprint(self) -> str:
        """A digest of the columns every form of the data has (who received what, from whom,
        when, at which opinions, with which outcomes): a fit file names the data it was
        fitted to, and `vi-od compare --fits` refuses a fit of other data. A model's own
        columns are left out: a trace derives some that its event log stores (a feed's
        opinions), and the same data must give the same digest in either form."""
        import hashlib

        digest = hashlib.blake2b(digest_size=16)
        columns = (self.time, self.sender, self.receiver, self.sender_opinion,
                   self.receiver_opinion, self.s_plus, self.s_minus)  # fmt: skip
        for column in columns:
            digest.update(np.ascontiguousarray(column).tobytes())
        digest.update(str(self.N).encode())
        return digest.hexdigest()

    def require_interactions(self) -> None:
        """A fit needs at least one interaction."""
        if self.M == 0:
            raise ViOdError("the data hold no interactions: nothing to fit")


def from_columns(
    time, sender, receiver, sender_opinion, receiver_opinion, s_plus, s_minus, agent_ids,
    **fields,
) -> Observations:  # fmt: skip
    """Observations from validated columns, stably sorted by time, with the canonical dtypes
    (a model's `extra` columns, in the same file order, sorted with them)."""
    time = np.asarray(time)
    order = np.argsort(time, kind="stable")
    if np.all(order == np.arange(order.size)):
        order = slice(None)
    take = lambda a, dtype: np.ascontiguousarray(np.asarray(a)[order], dtype)
    if fields.get("extra"):
        fields["extra"] = {k: take(a, np.asarray(a).dtype) for k, a in fields["extra"].items()}
    return Observations(
        time=take(time, np.int64),
        sender=take(sender, np.int32),
        receiver=take(receiver, np.int32),
        sender_opinion=take(sender_opinion, np.float32),
        receiver_opinion=take(receiver_opinion, np.float32),
        s_plus=take(s_plus, np.int8),
        s_minus=take(s_minus, np.int8),
        agent_ids=np.asarray(agent_ids),
        **fields,
    )
