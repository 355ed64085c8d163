"""snapshot_disk(disk_cid, metadata): a snapshot tagged with the metadata."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, disk_cid: str, metadata: dict | None = None) -> str:
    return ctx.provider.snapshot_disk(disk_cid, {str(k): str(v) for k, v in (metadata or {}).items()})
