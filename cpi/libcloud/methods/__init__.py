"""One module per CPI method, each exposing ``run(ctx, *arguments)``, found by name."""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS = (
    "info", "create_stemcell", "delete_stemcell",
    "create_vm", "delete_vm", "has_vm", "reboot_vm", "set_vm_metadata",
    "create_disk", "delete_disk", "has_disk", "attach_disk", "detach_disk", "get_disks",
    "resize_disk", "snapshot_disk", "delete_snapshot", "set_disk_metadata",
    "calculate_vm_cloud_properties",
)


def method_module(name: str) -> ModuleType | None:
    """The module implementing ``name``, or None for a method this CPI does not have."""
    if name not in METHODS:
        return None
    return importlib.import_module(f"cpi.libcloud.methods.{name}")
