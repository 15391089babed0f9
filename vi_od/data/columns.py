"""Columns a model's observations carry beyond the common ones (a feed, an event's kind).

The common columns (time, sender, receiver, both opinions, s+, s-) are every model's; a model
whose interactions hold more (BCM-I: a feed of F senders per interaction; BCM-G: whether an
event updated opinions or rewired the graph, and whether it cut) owns those columns through
one `Columns` record: which log columns it reads and of what kind, how they become
`Observations.extra` (one array per name, leading axis M, in the interactions' time order),
how they are checked, and how a simulated trace writes them back as log columns.

In a `.npz` trace they are arrays `extra_<name>` of shape (T-1, E, ...), one entry per
interaction like `u` and `v`; `Trace.extra` holds them by name and `to_observations` flattens
them to (M, ...). Nothing here imports JAX: the readers run before it starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("id", "opinion", "flag")  # how the event-log reader converts a column


@dataclass(frozen=True)
class Columns:
    """A model's extra per-interaction columns.

    `log_columns(names, where)`: the columns of an event log (its header `names`) the model
    reads, {column: kind}, kind in KINDS; a missing one raises ViOdError naming it.
    `from_log(columns, where)`: the converted columns (numpy arrays in file order; ids already
    agent indices) -> `Observations.extra` (arrays in file order; the reader sorts them by
    time with the rest); a bad row raises ViOdError naming the column and the row.
    `check(obs, where)`: the observations' extra arrays fit the model (either source).
    `to_log(trace)`: a simulated trace's extra arrays as event-log columns {name: (M,) array}.
    """

    log_columns: Callable
    from_log: Callable
    check: Callable
    to_log: Callable
