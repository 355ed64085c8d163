"""start: run every job's bin/pre-start (in parallel), then supervise the processes of
the jobs' monit files. "Should be running" is persisted, so after an agent restart or a
VM reboot the jobs come back without the director. post-start is left to the director
(run_script "post-start"), after it sees the jobs running."""

from bosh_py.agent.context import ActionContext
from bosh_py.agent.jobscripts import check_results, run_job_scripts

ASYNC = True


async def run(ctx: ActionContext) -> str:
    async with ctx.jobs_lock:
        results = await run_job_scripts(ctx.paths, "pre-start")
        check_results("pre-start", results)
        await ctx.supervisor.start()
        ctx.state.desired_job_state = "running"
        ctx.state.save()
    return "started"
