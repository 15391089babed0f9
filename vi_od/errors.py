"""The one exception type the CLI turns into a one-line message and exit code 2."""


class ViOdError(ValueError):
    """Bad input from the user (config, trace file, settings): say what is wrong, no traceback."""


def require(ok: bool, key: str, value, allowed: str) -> None:
    """Raise the one-line message every settings check uses: the key, its value, what may be."""
    if not ok:
        raise ViOdError(f"{key}={value} is not allowed: must be {allowed}")


def as_number(kind, key: str, value):
    """A config value as int or float, or a ViOdError naming the key (no silent truncation)."""
    if isinstance(value, bool) or value is None:
        raise ViOdError(f"{key}={value} is not allowed: must be a number")
    try:
        out = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ViOdError(f"{key}={value} is not allowed: must be a number") from None
    if kind is int and out != value:
        raise ViOdError(f"{key}={value} is not allowed: must be an integer")
    return out
