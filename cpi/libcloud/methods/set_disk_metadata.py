"""set_disk_metadata(disk_cid, metadata): the metadata become the volume's tags."""

from __future__ import annotations

from typing import Any

from cpi.libcloud.context import Context


def run(ctx: Context, disk_cid: str, metadata: dict[str, Any]) -> None:
    ctx.provider.set_disk_metadata(disk_cid, {str(k): str(v) for k, v in (metadata or {}).items()})
