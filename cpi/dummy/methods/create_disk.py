"""create_disk(size_mb, cloud_properties, vm_cid): an empty directory."""

from typing import Any

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state, new_cid
from cpi.protocol import CloudError


def run(ctx: Context, size: Any, cloud_properties: Any = None, vm_cid: Any = None) -> str:
    raise_injected(ctx.config, "create_disk")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise CloudError(f"create_disk: size must be a positive number of MiB, got {size!r}")
    cid = new_cid("disk")
    with locked_state(ctx.config) as state:
        (ctx.config.disks / cid).mkdir(mode=0o755)
        state["disks"][cid] = {"size": size, "cloud_properties": cloud_properties or {}, "vm": None}
    return cid
