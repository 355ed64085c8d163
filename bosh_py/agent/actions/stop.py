"""stop: SIGTERM each job process group, SIGKILL after settings.stop_timeout."""

from bosh_py.agent.context import ActionContext

ASYNC = True


async def run(ctx: ActionContext) -> str:
    async with ctx.jobs_lock:
        ctx.state.desired_job_state = "stopped"
        ctx.state.save()
        await ctx.supervisor.stop(ctx.settings.stop_timeout)
    return "stopped"
