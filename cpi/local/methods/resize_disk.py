"""resize_disk(disk_cid, new_size_mb): records the new size (sizes are not enforced)."""

from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.locking import locked
from cpi.local.methods.disk_common import disk_or_raise


def run(ctx: Context, disk_cid: str, new_size: int) -> None:
    with locked(ctx.config.root):
        disk = disk_or_raise(ctx.config, disk_cid)
        if int(new_size) < disk.size_mb:
            raise CloudError(f"disk {disk_cid}: cannot shrink from {disk.size_mb} to {new_size} MB")
        disk.size_mb = int(new_size)
        disk.save(ctx.config)
    return None
