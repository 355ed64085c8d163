"""create_disk(size MB, cloud_properties, vm_cid): a volume where the VM is (its zone)."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, size: int, cloud_properties: dict | None = None, vm_cid: str | None = None) -> str:
    return ctx.provider.create_disk(size, dict(cloud_properties or {}), vm_cid)
