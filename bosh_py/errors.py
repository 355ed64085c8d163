"""The one exception root every bosh-py part derives from, so the CLI can turn any of them
into a clear message and exit code 1 without a traceback."""


class BoshPyError(Exception):
    """A user-facing failure; ``str(error)`` is the whole message."""
