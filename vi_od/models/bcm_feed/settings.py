"""BCM-I's simulator settings, design and feed columns, without JAX (read before JAX starts)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vi_od.data.columns import Columns
from vi_od.errors import ViOdError, require
from vi_od.models.pooled_settings import check_eps, check_mu, check_rule, check_size, read_settings

EPS_PLUS_GRID = (0.05, 0.15, 0.25, 0.35, 0.45)  # the journal's design
EPS_MINUS_GRID = (0.55, 0.65, 0.75, 0.85, 0.95)
FEED = "feed"  # Observations.extra: the later senders (M, F-1), agent indices
FEED_OPINION = "feed_opinion"  # and their opinions (M, F-1), from an event log


@dataclass(frozen=True)
class Settings:
    """conf/model/bcm-feed.yaml. Unset values are drawn per experiment from the seed, as the
    journal's design draws them: eps from its grids, k uniform in 1..feed_size."""

    N: int
    T: int
    edges_per_step: int = 10
    feed_size: int = 5
    k: int | None = None
    eps: tuple[float, float] | None = None
    mu_plus: float = 0.02
    mu_minus: float = 0.02
    rho: float = 32.0
    deterministic: bool = False

    def validate(self) -> Settings:
        check_size(self)
        require(self.feed_size >= 1, "simulator.feed_size", self.feed_size, "an integer >= 1")
        ok = self.k is None or 1 <= self.k <= self.feed_size
        require(ok, "simulator.k", self.k, f"null or an integer in 1..{self.feed_size}")
        check_mu(self, 0.5)
        if self.eps is not None:
            check_eps(self.eps, "simulator.eps")
        check_rule(self)
        return self


def settings_from_config(values: dict) -> Settings:
    """The validated settings of a composed config (plain dict); a null key keeps its default."""
    return read_settings(Settings, values, null_is_default=True)


# --- the feed as columns: an event log's sender_2 .. sender_F, a trace's extra_feed -----------

LATER = re.compile(r"sender(_opinion)?_([0-9]+)")


def log_columns(names: list[str], where: str) -> dict[str, str]:
    """The feed's later senders and their opinions: sender_j, sender_opinion_j, j = 2..F."""
    found = {}
    for name in names:
        match = LATER.fullmatch(name)
        if match:
            found.setdefault(int(match.group(2)), set()).add(name)
    if not found:
        raise ViOdError(
            f"{where}: model bcm-feed reads a feed per interaction: columns sender_2, "
            "sender_opinion_2, ..., sender_F, sender_opinion_F (the feed after `sender`, in order)"
        )
    F = max(found)
    for j in range(2, F + 1):
        for name in (f"sender_{j}", f"sender_opinion_{j}"):
            if name not in found.get(j, ()):
                raise ViOdError(f"{where}: missing column '{name}' (a feed of {F} senders "
                                f"needs sender_j and sender_opinion_j for j = 2..{F})")  # fmt: skip
    kinds = {}
    for j in range(2, F + 1):
        kinds |= {f"sender_{j}": "id", f"sender_opinion_{j}": "opinion"}
    return kinds


def from_log(columns: dict, where: str) -> dict:
    """(M, F-1) later senders and their opinions, in file order."""
    F = len(columns) // 2 + 1
    later = range(2, F + 1)
    return {
        FEED: np.stack([columns[f"sender_{j}"] for j in later], axis=1).astype(np.int32),
        FEED_OPINION: np.stack([columns[f"sender_opinion_{j}"] for j in later],
                               axis=1).astype(np.float32),  # fmt: skip
    }


def check(obs, where: str) -> None:
    """A feed per interaction: later senders (M, F-1) indexing the agents, and their opinions
    (an event log's columns, or a trace's X at each step)."""
    feed = obs.extra.get(FEED)
    if feed is None:
        raise ViOdError(
            f"{where}: model bcm-feed needs each interaction's feed: a trace's 'extra_feed' "
            "(T-1, E, F-1: the senders after u) or an event log's sender_2 .. sender_F columns"
        )
    if feed.ndim != 2 or feed.shape[0] != obs.M or not np.issubdtype(feed.dtype, np.integer):
        raise ViOdError(f"{where}: the feed must be (interactions, F-1) agent indices, got "
                        f"{feed.dtype} {feed.shape}")  # fmt: skip
    if feed.size and (feed.min() < 0 or feed.max() >= obs.N):
        raise ViOdError(f"{where}: feed senders must lie in [0, {obs.N}), found range "
                        f"[{feed.min()}, {feed.max()}]")  # fmt: skip
    if FEED_OPINION not in obs.extra and obs.trace is None:
        raise ViOdError(f"{where}: the feed's opinions are missing (sender_opinion_j columns)")


def to_log(trace) -> dict:
    """A trace's feed as event-log columns sender_j, sender_opinion_j (j = 2..F)."""
    feed = trace.extra[FEED]
    steps, E, later = feed.shape
    rows = np.repeat(np.arange(steps), E)
    out = {}
    for j in range(later):
        senders = feed[:, :, j].ravel()
        out[f"sender_{j + 2}"] = senders.astype(np.int64)
        out[f"sender_opinion_{j + 2}"] = trace.X[rows, senders].astype(np.float32)
    return out


COLUMNS = Columns(log_columns=log_columns, from_log=from_log, check=check, to_log=to_log)


def check_truth(truth, where: str) -> None:
    """The true [eps+, eps-, k] of a data file (no JAX: checked on reading)."""
    ok = len(truth) == 3 and float(truth[2]).is_integer() and truth[2] >= 1
    require(ok, where, list(truth), "[eps+, eps-, k] with k an integer >= 1")
    check_eps(truth[:2], where)
