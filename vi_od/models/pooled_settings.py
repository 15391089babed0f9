"""What the pooled models' settings share, without JAX."""

from vi_od.errors import require


def as_pair(x) -> tuple[float, float]:
    """A model-level mu as the trace format's [F, L] pair (one group: both the same)."""
    return (float(x), float(x))


def check_eps(eps, where: str) -> None:
    """[eps+, eps-] with eps+ in [0, 1/2] and eps- in [1/2, 1]: the shared thresholds."""
    ok = len(eps) == 2 and 0 <= eps[0] <= 0.5 and 0.5 <= eps[1] <= 1
    require(ok, where, list(eps), "[eps+, eps-] with eps+ in [0, 0.5] and eps- in [0.5, 1]")
