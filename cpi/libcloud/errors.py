"""CPI error types, named as BOSH's external CPI protocol names them.

A provider raises one of these; ``main`` turns it into the response's ``error`` object, so
the director can tell a missing VM from a failed create and decide whether to retry.
"""

from __future__ import annotations


class CpiFailure(Exception):
    """Base: ``error_type`` goes on the wire, ``str(self)`` is the message."""

    error_type = "CpiError"

    def __init__(self, message: str, ok_to_retry: bool = False) -> None:
        super().__init__(message)
        self.ok_to_retry = ok_to_retry


class CloudError(CpiFailure):
    error_type = "CloudError"


class NotImplementedFailure(CpiFailure):
    error_type = "NotImplemented"


class VMNotFound(CpiFailure):
    error_type = "VMNotFound"


class VMCreationFailed(CpiFailure):
    error_type = "VMCreationFailed"


class DiskNotFound(CpiFailure):
    error_type = "DiskNotFound"


class InvalidCall(CpiFailure):
    """The request or the CPI config is wrong (bad JSON, wrong arguments, bad property)."""

    error_type = "InvalidCall"
