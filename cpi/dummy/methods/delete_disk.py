"""delete_disk(cid): remove a detached disk's directory."""

import shutil

from cpi.dummy.common import disk_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state
from cpi.protocol import CloudError


def run(ctx: Context, cid: str) -> None:
    raise_injected(ctx.config, "delete_disk")
    with locked_state(ctx.config) as state:
        record = disk_record(state, cid)
        if record.get("vm"):
            raise CloudError(f"delete_disk: disk {cid} is attached to VM {record['vm']}")
        shutil.rmtree(ctx.config.disks / str(cid), ignore_errors=True)
        del state["disks"][str(cid)]
