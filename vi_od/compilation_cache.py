"""JAX's persistent compilation cache, on for every vi-od process (docs/sweeps.md).

A program compiled once (an SVI chunk, a NUTS step, a simulator of one shape) is written
to a per-user folder and read back by the next process that runs the same program, so a
repeated command (or the sweep's next job) pays its arithmetic, not XLA's compiler.

Folder: $JAX_COMPILATION_CACHE_DIR if set, else $XDG_CACHE_HOME/vi-od/jax (by default
~/.cache/vi-od/jax); deleting it is always safe. Off: VI_OD_NO_CACHE=1, or
JAX_COMPILATION_CACHE_DIR set to the empty string. Nothing here imports JAX.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DISABLE = "VI_OD_NO_CACHE"


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is turned off."""
    if os.environ.get(DISABLE, "").strip() not in ("", "0"):
        return None
    given = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if given is not None:
        return Path(given) if given.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vi-od" / "jax"


def configure() -> Path | None:
    """Turn the cache on (or off) for this process and the processes it starts.

    Sets JAX's own environment variables, which JAX reads when it is imported; if it
    already is, its config is updated too. Every program is cached, however fast it
    compiled (JAX skips those under 1 s by default). Returns the folder, None when off.
    """
    folder = cache_dir()
    settings = {"JAX_ENABLE_COMPILATION_CACHE": "false" if folder is None else "true"}
    if folder is not None:
        settings["JAX_COMPILATION_CACHE_DIR"] = str(folder)
        settings["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ.update(settings)
    if "jax" in sys.modules:
        import jax

        jax.config.update("jax_enable_compilation_cache", folder is not None)
        if folder is not None:
            jax.config.update("jax_compilation_cache_dir", str(folder))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder
