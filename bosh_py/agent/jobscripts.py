"""Run a lifecycle script (``bin/pre-start``, ``bin/drain``, ``bin/post-start``, ...) of
every job that has one, all jobs in parallel as BOSH does, output to
``/var/vcap/sys/log/<job>/<script>.{stdout,stderr}.log``. A failure names the job and
shows the last lines of its output: that is what an operator needs to see first."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Sequence

from bosh_py.agent.commands import CommandResult, base_env, run_command
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.paths import Paths


def job_scripts(paths: Paths, script: str) -> list[tuple[str, Path]]:
    if not script or "/" in script or script.startswith("."):
        raise AgentActionError(f"Invalid script name {script!r}")
    if not paths.jobs.is_dir():
        return []
    found = []
    for job_dir in sorted(paths.jobs.iterdir()):
        path = job_dir / "bin" / script
        if path.is_file():
            found.append((job_dir.name, path))
    return found


async def run_script_for_job(paths: Paths, job: str, path: Path, args: Sequence[str] = (),
                             env: dict[str, str] | None = None, capture_stdout: bool = False,
                             timeout: float | None = None) -> CommandResult:
    log_dir = paths.sys_log / job
    return await run_command(
        [str(path), *args], cwd=paths.jobs / job, env=base_env(env),
        stdout_log=log_dir / f"{path.name}.stdout.log", stderr_log=log_dir / f"{path.name}.stderr.log",
        capture_stdout=capture_stdout, timeout=timeout)


async def run_job_scripts(paths: Paths, script: str, args: Sequence[str] = (),
                          env: dict[str, str] | None = None,
                          timeout: float | None = None) -> dict[str, CommandResult]:
    scripts = job_scripts(paths, script)
    results = await asyncio.gather(*(run_script_for_job(paths, job, path, args, env, timeout=timeout)
                                     for job, path in scripts))
    return {job: r for (job, _), r in zip(scripts, results)}


def check_results(script: str, results: dict[str, CommandResult]) -> None:
    failed = {job: r for job, r in results.items() if not r.ok}
    if not failed:
        return
    parts = [f"'{script}' script failed for job(s) {', '.join(sorted(failed))}"]
    for job, r in sorted(failed.items()):
        parts.append(f"--- {job}: exit code {r.returncode}; last output lines:\n{r.tail_text()}")
    raise AgentActionError("\n".join(parts))
