"""Exceptions raised by the release part.

``str(error)`` is the whole user-facing message: it names the file (or tarball member,
job, template) and the field, so an operator can fix the problem without a traceback.
"""

from __future__ import annotations

from bosh_py.errors import BoshPyError


class ReleaseError(BoshPyError):
    """A release directory, spec or tarball is invalid, or creating a release failed."""


class RenderError(BoshPyError):
    """A job template could not be rendered (missing property, bad link, template error).

    ``errors`` keeps every individual problem so callers (the director's task log) can
    list them one per line; ``str()`` already joins them.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [message]
