"""set_vm_metadata(cid, metadata): kept on the VM's record (tests read it)."""

from typing import Any

from cpi.dummy.common import vm_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state


def run(ctx: Context, cid: str, metadata: Any) -> None:
    raise_injected(ctx.config, "set_vm_metadata")
    with locked_state(ctx.config) as state:
        vm_record(state, cid)["metadata"] = dict(metadata or {})
