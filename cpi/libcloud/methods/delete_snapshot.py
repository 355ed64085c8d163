"""delete_snapshot(snapshot_cid): a snapshot that is already gone is not a failure."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, snapshot_cid: str) -> None:
    ctx.provider.delete_snapshot(snapshot_cid)
