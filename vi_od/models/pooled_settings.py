"""What the pooled models' settings share, without JAX."""


def as_pair(x) -> tuple[float, float]:
    """A model-level mu as the trace format's [F, L] pair (one group: both the same)."""
    return (float(x), float(x))
