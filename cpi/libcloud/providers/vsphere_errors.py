"""vSphere faults, read from pyvmomi's exceptions, and what each means to a CPI.

pyvmomi raises the server's fault itself (``vim.fault.InvalidLogin``, ``vim.fault.FileNotFound``
…, all ``vmodl.MethodFault``); a failed task raises its ``info.error`` the same way. A fault's
``msg`` is often terse (vcsim answers with the Go type name), so ``describe`` adds the fault's
class and the fields that name what was wrong.
"""

from __future__ import annotations

from libcloud.common.types import InvalidCredsError
from pyVmomi import vim, vmodl

CREDENTIALS = (vim.fault.InvalidLogin, vim.fault.NotAuthenticated, InvalidCredsError)
THROTTLING = (vim.fault.TaskInProgress,)  # another task holds the object: try again shortly
CAPACITY = (vim.fault.InsufficientResourcesFault, vim.fault.NoDiskSpace,
            vim.fault.InsufficientDisks, vim.fault.NoCompatibleHost)
MISSING = (vmodl.fault.ManagedObjectNotFound, vim.fault.FileNotFound, vim.fault.NotFound)
DETAIL_FIELDS = ("invalidProperty", "name", "file", "datastore", "property", "requestedState",
                 "existingState")


def is_fault(error: BaseException) -> bool:
    return isinstance(error, vmodl.MethodFault)


def is_credentials(error: Exception) -> bool:
    return isinstance(error, CREDENTIALS)


def is_throttled(error: Exception) -> bool:
    return isinstance(error, THROTTLING)


def is_capacity(error: BaseException) -> bool:
    """No room right now (resources, disk space): worth retrying later."""
    return isinstance(error, CAPACITY)


def is_missing(error: BaseException) -> bool:
    return isinstance(error, MISSING)


def describe(error: BaseException) -> str:
    """``FaultName: message (field=value …)`` for a vSphere fault, the text otherwise."""
    if not is_fault(error):
        return str(getattr(error, "value", None) or error)
    name = getattr(error, "_wsdlName", type(error).__name__)
    message = str(getattr(error, "msg", "") or "").strip()
    details = []
    for key in DETAIL_FIELDS:
        value = getattr(error, key, None)
        if value not in (None, "", []):
            details.append(f"{key}={value}")
    text = name if not message or message.lstrip("*").endswith(name) else f"{name}: {message}"
    return f"{text} ({', '.join(details)})" if details else text
