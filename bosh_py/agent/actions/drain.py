"""drain(type, new_spec?): run every job's bin/drain in parallel with BOSH semantics.

The script prints one integer n: n >= 0 means "wait n seconds, then I am drained";
n < 0 means "wait |n| seconds and ask me again" (called again with ``job_check_status``).
The agent does all the waiting itself (as today's bosh-agent does) and returns the
seconds it waited (the longest job), so the director may stop jobs right after. No drain
script: 0. type is "update" (args say whether the job/config/packages change),
"shutdown" or "status"."""

import asyncio
import json
import signal
from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.jobscripts import job_scripts, run_script_for_job

ASYNC = True
MAX_WAIT = 24 * 3600  # a drain script cannot hold a VM forever
DEFAULT_SCRIPT_TIMEOUT = 3600.0  # one run of a drain script (not the waits it asks for)


def _update_args(current: dict, new: dict) -> list[str]:
    def versions(spec: dict) -> dict:
        return {t.get("name"): t.get("version") for t in ((spec.get("job") or {}).get("templates") or [])}

    def pkgs(spec: dict) -> dict:
        return {k: (v or {}).get("version") for k, v in (spec.get("packages") or {}).items()}

    job_changed = versions(current) != versions(new)
    hash_changed = current.get("configuration_hash") != new.get("configuration_hash")
    old_pkgs, new_pkgs = pkgs(current), pkgs(new)
    updated = sorted(n for n, v in new_pkgs.items() if old_pkgs.get(n) != v)
    return ["job_changed" if job_changed else "job_unchanged",
            "hash_changed" if hash_changed else "hash_unchanged", *updated]


def drain_args(drain_type: str, current: dict, new: dict) -> list[str]:
    """The drain script's arguments for ``drain_type`` (BOSH's job-lifecycle doc)."""
    if drain_type == "update":
        return _update_args(current, new)
    if drain_type == "status":
        return ["job_check_status", "hash_unchanged"]
    return ["job_shutdown", "hash_unchanged"]


async def drain_jobs(ctx: ActionContext, drain_type: str, new_spec: Any = None,
                     script_timeout: float | None = None) -> int:
    """Run every job's drain to the end (the caller holds ``ctx.jobs_lock``); the seconds
    waited by the slowest job. A script that fails, prints no integer or outlives
    ``script_timeout`` (settings ``drain_script_timeout``) fails the drain, naming its job."""
    if drain_type not in ("update", "shutdown", "status"):
        raise AgentActionError(f"Unknown drain type {drain_type!r}")
    current = ctx.load_spec()
    new = new_spec if isinstance(new_spec, dict) else {}
    args = drain_args(drain_type, current, new)
    env = {"BOSH_JOB_STATE": json.dumps(current), "BOSH_JOB_NEXT_STATE": json.dumps(new)}
    if script_timeout is None:
        script_timeout = float(ctx.settings.raw.get("drain_script_timeout") or DEFAULT_SCRIPT_TIMEOUT)

    async def drain_job(job: str, path) -> int:
        waited, job_args = 0, args
        while True:
            result = await run_script_for_job(ctx.paths, job, path, job_args, env, capture_stdout=True,
                                              timeout=script_timeout)
            if result.returncode == -signal.SIGKILL:  # run_command killed it at the timeout
                raise AgentActionError(f"Drain script of job {job} did not finish within {script_timeout:g}s "
                                       f"(killed); last output lines:\n{result.tail_text()}")
            if not result.ok:
                raise AgentActionError(f"Drain script of job {job} failed (exit code "
                                       f"{result.returncode}); last output lines:\n{result.tail_text()}")
            lines = [l.strip() for l in result.stdout.splitlines() if l.strip()]
            try:
                value = int(lines[-1])
            except (IndexError, ValueError):
                raise AgentActionError(f"Drain script of job {job} printed {lines[-1] if lines else 'nothing'!r}; "
                                       "expected an integer") from None
            wait = min(abs(value), MAX_WAIT - waited)
            await asyncio.sleep(max(0, wait))
            waited += max(0, wait)
            if value >= 0 or waited >= MAX_WAIT:
                return waited
            job_args = ["job_check_status", "hash_unchanged"]

    scripts = job_scripts(ctx.paths, "drain")
    waits = await asyncio.gather(*(drain_job(job, path) for job, path in scripts))
    ctx.log.info("drain (%s) done after %ds", drain_type, max(waits, default=0))
    return max(waits, default=0)


async def run(ctx: ActionContext, drain_type: str = "shutdown", new_spec: Any = None, *_: Any) -> int:
    async with ctx.jobs_lock:
        return await drain_jobs(ctx, drain_type, new_spec)
