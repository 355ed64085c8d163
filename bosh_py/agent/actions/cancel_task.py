"""cancel_task(id): stop a running long action (its child processes are killed)."""

from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError

ASYNC = False


async def run(ctx: ActionContext, task_id: str) -> str:
    if not ctx.tasks.cancel(str(task_id)):
        raise AgentActionError(f"Task {task_id} is not running")
    return "canceled"
