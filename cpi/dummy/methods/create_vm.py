"""create_vm(agent_id, stemcell_cid, cloud_properties, networks, disk_cids, env): a VM
directory and its record; the agent starts when the director sends its settings
(``bootstrap_agent``), which the third element of the answer asks for."""

import time
from typing import Any

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state, new_cid
from cpi.protocol import VMCreationFailed

BOOTSTRAP = {"agent_bootstrap": "cpi"}


def run(ctx: Context, agent_id: str, stemcell_cid: str, cloud_properties: Any, networks: Any,
        disk_cids: Any = None, env: Any = None) -> list:
    raise_injected(ctx.config, "create_vm")
    if not isinstance(networks, dict):
        raise VMCreationFailed(f"create_vm: networks must be a mapping, got {type(networks).__name__}")
    cid = new_cid("vm")
    with locked_state(ctx.config) as state:
        if str(stemcell_cid) not in state["stemcells"]:
            raise VMCreationFailed(f"create_vm: stemcell {stemcell_cid} not found")
        vm_dir = ctx.config.vm_dir(cid)
        vm_dir.mkdir(mode=0o700)
        state["vms"][cid] = {"agent_id": str(agent_id), "stemcell_cid": str(stemcell_cid),
                             "cloud_properties": cloud_properties or {}, "networks": networks,
                             "metadata": {}, "disks": [], "pid": None, "pid_started": None,
                             "created_at": time.time()}
    ctx.log(f"created VM {cid} for agent {agent_id}")
    return [cid, networks, BOOTSTRAP]
