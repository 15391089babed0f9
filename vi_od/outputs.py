"""Output paths checked before any work, and a command's outputs written all or nothing.

A fit can take an hour: an --out that names a folder, a folder the user cannot write or a
--plot format matplotlib cannot draw must fail at once, naming the user's path, not after
the work with the name of a hidden temp file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vi_od.errors import ViOdError

FIGURE_SUFFIXES = ("png", "pdf", "svg", "svgz", "jpg", "jpeg", "tif", "tiff", "webp", "eps",
                   "ps", "pgf", "gif", "avif", "raw", "rgba")  # fmt: skip


def check_writable(path: Path | None, option: str) -> None:
    """Refuse an output path that is a folder, or lies in a folder that cannot be written."""
    if path is None:
        return
    if path.is_dir():
        raise ViOdError(f"{option} {path}: is a folder; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # written later with mkdir -p
        folder = folder.parent
    if not folder.is_dir():
        raise ViOdError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ViOdError(f"{option} {path}: cannot write in {folder} (permission denied)")


def check_figure(path: Path | None, option: str = "--plot") -> None:
    """Refuse a figure name whose format matplotlib cannot write, and unwritable places."""
    if path is None:
        return
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FIGURE_SUFFIXES:
        raise ViOdError(
            f"{option} {path}: unknown image format '{path.suffix or '(none)'}' "
            f"(use .png, .pdf, .svg or one of {', '.join(FIGURE_SUFFIXES[3:])})"
        )
    check_writable(path, option)


AGENT_TABLE_SUFFIXES = (".csv", ".parquet")


def check_agents_path(path: str | os.PathLike) -> None:
    """Refuse an agents-table name we cannot write before any work is done."""
    if Path(path).suffix.lower() not in AGENT_TABLE_SUFFIXES:
        raise ViOdError(f"{path}: the agents table must end in .csv or .parquet")


@contextmanager
def all_or_nothing() -> Iterator[Callable[[Path], None]]:
    """Yield `wrote(path)`; if the block fails, the files it wrote are removed again."""
    written: list[Path] = []
    try:
        yield written.append
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
