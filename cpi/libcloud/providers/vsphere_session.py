"""The one way to vCenter for the vSphere provider's parts: a logged-in session whose every
call has its faults sorted (``VsphereError``) and TaskInProgress retried, task waits, device
reads and reconfigures, and the datacenter's inventory."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cpi.libcloud.errors import CloudError, InvalidCall
from cpi.libcloud.providers import vsphere_errors
from cpi.libcloud.providers.common import ApiErrors, call_api
from cpi.libcloud.providers.vsphere_connect import VsphereSettings, connect
from cpi.libcloud.providers.vsphere_inventory import Inventory

MB_KEYS = ("ram", "disk", "size", "ephemeral_disk_size")


class VsphereError(CloudError):
    """A vSphere fault answer; ``fault`` is pyvmomi's fault object."""

    def __init__(self, fault: BaseException) -> None:
        super().__init__(f"vSphere: {vsphere_errors.describe(fault)}")
        self.fault = fault


def _as_vsphere_error(error: Exception) -> VsphereError | None:
    return VsphereError(error) if vsphere_errors.is_fault(error) else None


VSPHERE_ERRORS = ApiErrors(vsphere_errors.is_throttled, vsphere_errors.is_credentials,
                           vsphere_errors.describe, _as_vsphere_error,
                           "vsphere.user / vsphere.password")


class Session:
    def __init__(self, settings: VsphereSettings, log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.log = log
        self.sleep = sleep
        self.driver = connect(settings)  # libcloud's VSphereNodeDriver, logged in
        self.content = self.call(self.driver.connection.RetrieveContent)
        self.inventory = Inventory(self.content, settings.datacenter, self.call)

    def call(self, action: Callable[[], Any]) -> Any:
        """Run one call with TaskInProgress retried; faults become ``VsphereError``."""
        return call_api(action, VSPHERE_ERRORS, self.settings.where, self.log, self.sleep)

    def wait(self, task_call: Callable[[], Any]) -> Any:
        """Start a task and wait for it; its result, or its fault raised."""
        return self.inventory.wait(self.call(task_call))

    def reconfigure(self, vm: Any, spec: Any) -> None:
        self.wait(lambda: vm.ReconfigVM_Task(spec=spec))

    def devices(self, vm: Any) -> list[Any]:
        return list(self.call(lambda: vm.config.hardware.device))


def positive_int(values: dict[str, Any], key: str, method: str,
                 prefix: str = "cloud_properties.") -> int:
    """``values[key]`` as a positive integer, or InvalidCall naming it."""
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        where = "size" if key == "size" else f"{prefix}{key}"
        raise InvalidCall(f"{method}: {where} {value!r} must be a positive integer"
                          f"{' (MB)' if key in MB_KEYS else ''}")
    return value


def is_retryable(error: BaseException) -> bool:
    """A failure for want of capacity (resources, disk space): worth trying again later."""
    fault = getattr(error, "fault", None) or getattr(error, "__cause__", None)
    return fault is not None and vsphere_errors.is_capacity(fault)
