"""Progress bars for long work (SVI steps, NUTS samples, ABC simulations), off in workers.

Methods call `task(...)`; the sweep's workers wrap their jobs in `quiet()` so that only the
parent process draws (STYLE 6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_enabled: ContextVar[bool] = ContextVar("vi_od_progress", default=True)


@contextmanager
def quiet() -> Iterator[None]:
    """No progress bars inside this block."""
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)


@contextmanager
def task(description: str, total: int, unit: str = "steps") -> Iterator[Callable[..., None]]:
    """A progress bar; yields `advance(n, **fields)`, fields shown after the bar (e.g. loss)."""
    if not _enabled.get():
        yield lambda n=1, **fields: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, transient=False) as bar:
        handle = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields) -> None:
            info = "  ".join(
                f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
            )
            bar.update(handle, advance=n, info=info)

        yield advance
