"""list_disk: the persistent disk cids this agent has mounted."""

from bosh_py.agent.context import ActionContext
from bosh_py.agent.mounts import is_mounted

ASYNC = False


async def run(ctx: ActionContext) -> list:
    return sorted(ctx.state.disks) if is_mounted(ctx.paths.store) else []
