"""run_script(name, options): run /var/vcap/jobs/*/bin/<name> for every job that has it,
in parallel (post-start, post-deploy, pre-stop, post-stop, errands' run...). Fails with
each failing job's last output lines. ``options.env`` adds environment variables."""

from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.jobscripts import check_results, run_job_scripts

ASYNC = True


async def run(ctx: ActionContext, name: str, options: Any = None) -> dict:
    env = (options or {}).get("env") if isinstance(options, dict) else None
    results = await run_job_scripts(ctx.paths, str(name), env={str(k): str(v) for k, v in (env or {}).items()})
    check_results(str(name), results)
    return {"executed": sorted(results)}
