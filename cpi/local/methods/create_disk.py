"""create_disk(size_mb, cloud_properties, vm_cid): a directory under root/disks.

The size is recorded, not enforced: a directory on the host's filesystem has no quota.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.state import DiskState, new_id, write_json


def run(ctx: Context, size: int, cloud_properties: dict | None = None,
        vm_cid: str | None = None) -> str:
    try:
        size_mb = int(size)
    except (TypeError, ValueError) as error:
        raise CloudError(f"disk size: expected MB, got {size!r}") from error
    if size_mb <= 0:
        raise CloudError(f"disk size: expected a positive number of MB, got {size_mb}")
    disks = ctx.config.disks
    disks.mkdir(parents=True, exist_ok=True)
    cid = new_id("disk")
    work = Path(tempfile.mkdtemp(prefix=f".{cid}-", dir=disks))
    try:
        (work / "data").mkdir(mode=0o755)
        disk = DiskState(cid, size_mb, cloud_properties or {}, time.time())
        write_json(work / "state.json", asdict(disk))
        os.chmod(work, 0o755)
        work.rename(disks / cid)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    ctx.log(f"disk {cid}: {size_mb} MB recorded (not enforced)")
    return cid
