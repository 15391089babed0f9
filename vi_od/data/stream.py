"""A simulation streamed into an event log (`vi-od simulate ... --out x.parquet`): no model's own.

A model that can stream (`Simulation.stream`) hands out a `StreamedLog`: the log's rows in
chunks of `Events`, never a (T, N) array, so runs of 10^7 interactions fit in memory. The
writer (`vi_od.data.eventlog_writer`) and the CLI take it without knowing the model.
`Activity`, who receives the interactions, is a choice of the run, not of a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from vi_od.errors import require


@dataclass(frozen=True)
class Activity:
    """Who receives the interactions: uniformly at random (the paper) or by a power law.

    `zipf:a` gives the agent of activity rank r (ranks are a random permutation of the
    agents) the weight r^-a as a receiver; senders stay uniform among the others. At
    N = 100,000, a = 0.92 makes the most active 1% of the agents receive half of the
    interactions. Its own settings, not a model's: a new field there would change every
    sweep job id.
    """

    kind: str = "uniform"
    exponent: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Activity:
        """`uniform` or `zipf:A` (A > 0), as the command line writes it."""
        kind, _, exponent = text.partition(":")
        if kind == "uniform" and not exponent:
            return cls()
        try:
            value = float(exponent)
        except ValueError:
            value = None
        require(kind == "zipf" and value is not None, "--activity", text, "uniform or zipf:A")
        return cls("zipf", value).validate()

    def validate(self) -> Activity:
        require(self.kind in ("uniform", "zipf"), "--activity", self.kind, "uniform or zipf:A")
        require(self.exponent > 0, "--activity", f"zipf:{self.exponent}", "zipf:A with A > 0")
        return self

    def text(self) -> str:
        """As the command line writes it."""
        return self.kind if self.kind == "uniform" else f"zipf:{self.exponent:g}"

    def weights(self, N: int, seed: int) -> np.ndarray | None:
        """(N,) probability of each agent to receive an interaction (None: uniform)."""
        if self.kind == "uniform":
            return None
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xAC7]))
        w = np.arange(1, N + 1, dtype=np.float64) ** -self.exponent
        return w[rng.permutation(N)] / w.sum()


class Events(NamedTuple):
    """The interactions of a block of steps, one row each, as numpy arrays."""

    time: np.ndarray  # (n,) int64 step: every row of a step reads its start
    sender: np.ndarray  # (n,) int32
    receiver: np.ndarray  # (n,) int32
    sender_opinion: np.ndarray  # (n,) float32
    receiver_opinion: np.ndarray  # (n,) float32
    s_plus: np.ndarray  # (n,) int8
    s_minus: np.ndarray  # (n,) int8
    snapshot_time: np.ndarray  # (k,) int64 steps whose start opinions follow
    snapshots: np.ndarray  # (k, N) float32


class StreamedLog(NamedTuple):
    """What a model's `Simulation.stream` hands the writer: the log's truth as its metadata
    records it (JSON-ready: the truth, dynamics, seed and settings; a model other than the
    default names itself under "model" and its parameters under "names"), what
    `vi-od simulate` prints about it beside the counts, and the chunks of rows."""

    meta: dict
    summary: dict
    chunks: Iterator[Events]
