"""has_disk(cid)."""

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import read_state


def run(ctx: Context, cid: str) -> bool:
    raise_injected(ctx.config, "has_disk")
    return str(cid) in read_state(ctx.config)["disks"]
