"""One module per CPI method, each exposing ``run(ctx, *arguments)`` (as bosh-agent has one
file per action), so a method is found by its name."""

from __future__ import annotations

import importlib
from types import ModuleType

METHODS = (
    "info", "create_stemcell", "delete_stemcell",
    "create_vm", "delete_vm", "has_vm", "reboot_vm", "set_vm_metadata",
    "create_disk", "delete_disk", "has_disk", "attach_disk", "detach_disk", "get_disks",
    "resize_disk", "snapshot_disk", "delete_snapshot",
)


def method_module(name: str) -> ModuleType | None:
    """The module implementing ``name``, or None for a method this CPI does not have."""
    if name not in METHODS:
        return None
    return importlib.import_module(f"cpi.local.methods.{name}")
