"""get_task(id): the state of a long action; the reply is the task's own reply
(``{"value": ...}`` when done, ``{"exception": ...}`` when failed)."""

from bosh_py.agent.context import ActionContext

ASYNC = False
RAW_REPLY = True  # the returned dict is the whole reply, not wrapped in "value"


async def run(ctx: ActionContext, task_id: str) -> dict:
    return ctx.tasks.get(str(task_id))
