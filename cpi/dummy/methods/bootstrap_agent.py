"""bootstrap_agent(vm_cid, settings): write the agent's settings.json into the VM (hosts
rewritten, see agents.agent_settings) and start its agent. The settings hold the agent's
NATS and blobstore credentials: written 0600, never logged."""

from typing import Any

from cpi.dummy import agents
from cpi.dummy.common import vm_record
from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state
from cpi.protocol import InvalidCall


def run(ctx: Context, vm_cid: str, settings: Any) -> None:
    raise_injected(ctx.config, "bootstrap_agent")
    if not isinstance(settings, dict) or not settings.get("agent_id") or not settings.get("mbus"):
        raise InvalidCall("bootstrap_agent: settings must be a mapping with agent_id and mbus")
    with locked_state(ctx.config) as state:
        record = vm_record(state, vm_cid)
        if str(settings["agent_id"]) != record["agent_id"]:
            raise InvalidCall(f"bootstrap_agent: VM {vm_cid} belongs to agent {record['agent_id']}, "
                              f"not {settings['agent_id']}")
        vm_dir = ctx.config.vm_dir(str(vm_cid))
        agents.stop_vm_processes(record, vm_dir)
        agents.write_settings(vm_dir, agents.agent_settings(settings, ctx.config))
        record.update(agents.start_agent(ctx.config, vm_dir))
    ctx.log(f"started agent of VM {vm_cid} (pid {record['pid']})")
