"""The one run loop every method shares: compiled chunks, host work and progress between them.

A method compiles `run(state, start, n)` doing n iterations (SVI steps, NUTS draws,
simulations) from iteration `start`; the loop calls it chunk after chunk, hands each
chunk's output to `after` (checks, e.g. a NaN loss, and the fields shown on the progress
bar) and moves the bar. A chunk is as long as one compiled program may run without news.
Used by svi-normal, svi-nf, nuts, nuts-marginal, svi-marginal and abc; abc-smc's
generations end when enough particles are accepted, a length no fixed chunking knows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

State = TypeVar("State")


def run_chunked(
    run: Callable[[State, int, int], tuple[State, Any]],
    state: State,
    total: int,
    chunk: int,
    advance: Callable[..., None],
    after: Callable[[int, int, Any], dict] | None = None,
) -> tuple[State, list]:
    """Run `total` iterations in chunks of at most `chunk`; return the state and every output.

    `after(start, n, output)` returns the progress fields of the chunk (or raises to stop).
    """
    outputs = []
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        state, output = run(state, start, n)
        outputs.append(output)
        advance(n, **(after(start, n, output) if after else {}))
    return state, outputs
