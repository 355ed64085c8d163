"""delete_disk(disk_cid): remove a detached disk and its data."""

from __future__ import annotations

import shutil

from cpi.local import mounts
from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.locking import locked
from cpi.local.methods.disk_common import disk_or_raise, holder
from cpi.local.state import DiskState


def run(ctx: Context, disk_cid: str) -> None:
    with locked(ctx.config.root):
        disk_or_raise(ctx.config, disk_cid)
        attached = holder(ctx.config, disk_cid)
        if attached is not None:
            raise CloudError(f"disk {disk_cid} is attached to VM {attached.cid}; detach it first")
        directory = DiskState.directory(ctx.config, disk_cid)
        if mounts.mountpoints_under(directory):
            raise CloudError(f"disk {disk_cid} has mounts below {directory}")
        shutil.rmtree(directory)
    return None
