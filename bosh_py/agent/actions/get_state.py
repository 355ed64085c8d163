"""get_state: the applied spec plus what is true now (job_state, processes, vitals)."""

from typing import Any

from bosh_py.agent.context import ActionContext

ASYNC = False


async def run(ctx: ActionContext, *flags: Any) -> dict:
    spec = ctx.load_spec()
    state = {k: v for k, v in spec.items() if k not in ("properties", "env")}
    statuses = ctx.supervisor.statuses()
    vm = ctx.settings.vm
    state.update({
        "agent_id": ctx.settings.agent_id,
        "job_state": ctx.supervisor.job_state(),
        "processes": ctx.vitals.processes(statuses),
        "vitals": ctx.vitals.system(),
        "deployment": spec.get("deployment"),
        "job": spec.get("job"),
        "index": spec.get("index"),
        "id": spec.get("id"),
        "vm": {"name": vm.get("name") or vm.get("cid")},
    })
    return state
