"""has_vm(cid): recorded, and its agent still running once it was started (a killed agent
process is a VM that is gone, as a terminated cloud VM is)."""

from cpi.dummy import agents
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import read_state


def run(ctx: Context, cid: str) -> bool:
    raise_injected(ctx.config, "has_vm")
    record = read_state(ctx.config)["vms"].get(str(cid))
    if record is None:
        return False
    return record.get("pid") is None or agents.alive(record)
