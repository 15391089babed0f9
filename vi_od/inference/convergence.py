"""Has a fit converged? The field's convention, so a stuck sampler is never reported as fine.

MCMC (Vehtari et al. 2021; Stan, ArviZ, numpyro's diagnostics): every parameter's split
r_hat at most 1.01 and its effective sample size at least 100 per chain. SVI: a finite final
loss (a diverged run already stops with an error). Methods with neither (ABC) record None.
"""

from __future__ import annotations

import math

R_HAT_MAX = 1.01
ESS_PER_CHAIN = 100


def _worst(info: dict) -> tuple[float, float, float] | None:
    """(max r_hat, min ESS, ESS needed) of an MCMC fit's diagnostics; None for other methods."""
    r_hat, ess = info.get("r_hat"), info.get("ess")
    if not (isinstance(r_hat, dict) and isinstance(ess, dict) and r_hat and ess):
        return None
    bad = lambda x: x is None or math.isnan(x)  # a NaN diagnostic is the worst, not a pass
    worst_r = max(math.inf if bad(x) else x for x in r_hat.values())
    least = min(0.0 if bad(x) else x for x in ess.values())
    return worst_r, least, ESS_PER_CHAIN * int(info.get("chains") or 1)


def converged(info: dict) -> bool | None:
    """True/False by the convention above; None when the method has no convergence check."""
    worst = _worst(info)
    if worst is not None:
        r_hat, ess, needed = worst
        return bool(r_hat <= R_HAT_MAX and ess >= needed)
    if "final_loss" in info:
        return info["final_loss"] is not None and math.isfinite(info["final_loss"])
    return None


def warning(record: dict) -> str | None:
    """The one-line warning of a fit that has not converged (None if it has, or cannot say)."""
    if converged(record) is not False:
        return None
    worst = _worst(record)
    method = record.get("method", "the sampler")
    if worst is None:
        return f"{method} has not converged (final loss {record.get('final_loss')}): more steps"
    r_hat, ess, needed = worst
    other = "" if method == "nuts-marginal" else " or use --method nuts-marginal"
    return (
        f"{method} has not converged: max r_hat {r_hat:.3f} (want <= {R_HAT_MAX}), min ESS "
        f"{ess:.0f} (want >= {needed:.0f}); the estimates are not to be trusted: run more "
        f"warmup and samples (method.warmup=, method.samples=){other}"
    )
