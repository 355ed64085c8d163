"""prepare(spec): download the next spec's packages and jobs while the old ones still
run, so the stop-apply-start window is short."""

from bosh_py.agent.context import ActionContext
from bosh_py.agent.specinstall import fetch_spec

ASYNC = True


async def run(ctx: ActionContext, spec: dict) -> str:
    async with ctx.jobs_lock:  # never races an apply installing the same package
        await fetch_spec(ctx, spec)
    return "prepared"
