"""calculate_vm_cloud_properties({cpu, ram, ephemeral_disk_size}): the IaaS's cloud properties for a vm_resources block."""

from __future__ import annotations

from typing import Any

from cpi.libcloud.context import Context


def run(ctx: Context, requirements: dict[str, Any]) -> dict[str, Any]:
    return ctx.provider.calculate_vm_cloud_properties(requirements)
