"""The one exception type the CLI turns into a one-line message and exit code 2."""


class ViOdError(ValueError):
    """Bad input from the user (config, trace file, settings): say what is wrong, no traceback."""
