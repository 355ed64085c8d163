"""create_disk(size_mb, cloud_properties, vm_cid): a directory under root/disks.

The size is recorded, not enforced: a directory on the host's filesystem has no quota.
``data`` belongs to the VM's root (it becomes /var/vcap/store); its parent is 0700.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.state import DiskState, new_id, private_dir, write_json


def run(ctx: Context, size: int, cloud_properties: dict | None = None,
        vm_cid: str | None = None) -> str:
    try:
        size_mb = int(size)
    except (TypeError, ValueError) as error:
        raise CloudError(f"disk size: expected MB, got {size!r}") from error
    if size_mb <= 0:
        raise CloudError(f"disk size: expected a positive number of MB, got {size_mb}")
    disks = private_dir(ctx.config, ctx.config.disks)
    cid = new_id("disk")
    work = Path(tempfile.mkdtemp(prefix=f".{cid}-", dir=disks))
    try:
        (work / "data").mkdir(mode=0o755)
        ctx.config.ids.own(work / "data")
        disk = DiskState(cid, size_mb, cloud_properties or {}, time.time(), ctx.config.id_base)
        write_json(work / "state.json", asdict(disk))
        work.rename(disks / cid)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    ctx.log(f"disk {cid}: {size_mb} MB recorded (not enforced)")
    return cid
