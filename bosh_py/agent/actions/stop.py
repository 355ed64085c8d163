"""stop(options?): take the jobs down.

Without options (as before): SIGTERM each job process group, SIGKILL after
settings.stop_timeout. With ``{"lifecycle": true, ...}`` the whole way down of BOSH's job
lifecycle (https://bosh.io/docs/job-lifecycle/), in one action so nothing can run between
the steps: every job's ``bin/pre-stop`` (env
``BOSH_VM_NEXT_STATE``, ``BOSH_INSTANCE_NEXT_STATE``, ``BOSH_DEPLOYMENT_NEXT_STATE``:
"keep" or "delete", from ``next_state``), ``bin/drain`` (``drain_type`` with
``next_spec``; skipped with ``skip_drain``), the processes stopped, then ``bin/post-stop``.
A failing pre-stop or drain leaves the processes running and fails the action, naming the
job; a failing post-stop fails it after the processes are down."""

from __future__ import annotations

from typing import Any

from bosh_py.agent.actions.drain import drain_jobs
from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.jobscripts import check_results, run_job_scripts

ASYNC = True
NEXT_STATES = ("keep", "delete")
NEXT_STATE_SUBJECTS = ("vm", "instance", "deployment")


def next_state_env(next_state: Any) -> dict[str, str]:
    """BOSH's pre-stop environment; each subject defaults to "keep"."""
    given = next_state if isinstance(next_state, dict) else {}
    unknown = sorted(set(given) - set(NEXT_STATE_SUBJECTS))
    if unknown:
        raise AgentActionError(f"stop: options.next_state has unknown key(s) {', '.join(unknown)} "
                               f"(expected {', '.join(NEXT_STATE_SUBJECTS)})")
    env = {}
    for subject in NEXT_STATE_SUBJECTS:
        value = given.get(subject, "keep")
        if value not in NEXT_STATES:
            raise AgentActionError(f"stop: options.next_state.{subject} is {value!r}; expected keep or delete")
        env[f"BOSH_{subject.upper()}_NEXT_STATE"] = value
    return env


async def _stop_processes(ctx: ActionContext) -> None:
    ctx.state.desired_job_state = "stopped"
    ctx.state.save()
    await ctx.supervisor.stop(ctx.settings.stop_timeout)


async def run(ctx: ActionContext, options: Any = None) -> Any:
    if options is not None and not isinstance(options, dict):
        raise AgentActionError(f"stop: options must be a mapping, got {type(options).__name__}")
    if not options or not options.get("lifecycle"):
        async with ctx.jobs_lock:
            await _stop_processes(ctx)
        return "stopped"
    env = next_state_env(options.get("next_state"))
    async with ctx.jobs_lock:
        check_results("pre-stop", await run_job_scripts(ctx.paths, "pre-stop", env=env))
        drained = 0
        if not options.get("skip_drain"):
            drained = await drain_jobs(ctx, str(options.get("drain_type") or "shutdown"), options.get("next_spec"))
        await _stop_processes(ctx)
        check_results("post-stop", await run_job_scripts(ctx.paths, "post-stop"))
    ctx.log.info("stopped (lifecycle; drain %s)", "skipped" if options.get("skip_drain") else f"{drained}s")
    return {"state": "stopped", "drained_seconds": drained, "drain_skipped": bool(options.get("skip_drain"))}
