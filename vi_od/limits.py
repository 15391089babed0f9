"""Honest limits: what a run would need, estimated before it starts, and a refusal if too much.

A run that cannot fit says so in one line (a ViOdError: exit code 2 on the command line)
with its estimate, instead of dying inside XLA or running for hours. Memory is compared
with what the machine (or the accelerator) has free; time estimates use the pace measured
on the 2-core development CPU and apply on CPU backends only.
"""

from __future__ import annotations

import os

import jax

from vi_od.errors import ViOdError

MAX_CPU_HOURS = 3.0  # the sweep's default job limit: a longer CPU run is refused


def available_memory() -> int:
    """Bytes free for a run: the accelerator's limit, or the host's available memory."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def gib(n_bytes: float) -> str:
    """A byte count as GiB (or MiB below 1 GiB), for messages."""
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:.0f} MiB"
    value = n_bytes / 2**30
    return f"{value:.3g} GiB" if value < 1000 else f"{value:,.0f} GiB"


def require_memory(what: str, need: float, hint: str = "") -> None:
    """Refuse `what` when its estimated peak memory `need` exceeds what is available."""
    have = available_memory()
    if need > have:
        raise ViOdError(
            f"{what} would need about {gib(need)} of memory, more than the {gib(have)} "
            f"available{'; ' + hint if hint else ''}"
        )


def require_time(what: str, seconds: float, hint: str = "") -> None:
    """Refuse `what` on a CPU when its estimated time exceeds MAX_CPU_HOURS."""
    if on_cpu() and seconds > MAX_CPU_HOURS * 3600:
        raise ViOdError(
            f"{what} would take about {seconds / 3600:.3g} h on this CPU (estimate), more "
            f"than the {MAX_CPU_HOURS:g} h bound{'; ' + hint if hint else ''}"
        )
