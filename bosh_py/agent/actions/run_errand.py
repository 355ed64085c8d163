"""run_errand(job, options): run ``/var/vcap/jobs/<job>/bin/run`` once, as bosh-agent's
run_errand does, and answer its exit code with what it wrote on stdout and stderr.

A non-zero exit is a result, not an action failure: the director reports it per instance.
Output goes to ``/var/vcap/sys/log/<job>/errand.{stdout,stderr}.log`` in full (what
``--download-logs`` fetches) and only the last ``OUTPUT_LIMIT`` bytes of each stream come
back over NATS. ``options.timeout`` (seconds) bounds the run; ``cancel_task`` or the
timeout kill the script's whole process group. ``options.env`` adds variables."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import IO, Any

from bosh_py.agent.commands import base_env, kill_group
from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.paths import Paths

ASYNC = True
OUTPUT_LIMIT = 64 * 1024  # bytes of each stream returned to the director
TRUNCATED = "(output truncated: the full log is in /var/vcap/sys/log/{job}/errand.{stream}.log)\n"


def errand_script(paths: Paths, job: str) -> Path:
    if not job or "/" in job or job.startswith("."):
        raise AgentActionError(f"run_errand: invalid job name {job!r}")
    script = paths.jobs / job / "bin" / "run"
    if not script.is_file():
        raise AgentActionError(f"run_errand: job '{job}' has no bin/run on this instance")
    return script


class _TailBuffer:
    """The last ``limit`` bytes written, and whether anything was dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = False

    def write(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]
            self.dropped = True

    def text(self, job: str, stream: str) -> str:
        body = self.data.decode(errors="replace")
        return (TRUNCATED.format(job=job, stream=stream) + body) if self.dropped else body


async def _pump(stream: asyncio.StreamReader | None, log: IO[bytes], tail: _TailBuffer) -> None:
    while stream is not None:
        chunk = await stream.read(65536)
        if not chunk:
            return
        log.write(chunk)
        log.flush()
        tail.write(chunk)


async def run(ctx: ActionContext, job: str, options: Any = None) -> dict:
    options = options if isinstance(options, dict) else {}
    script = errand_script(ctx.paths, str(job))
    timeout = options.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise AgentActionError(f"run_errand: options.timeout must be a positive number of seconds, got {timeout!r}")
    env = base_env({str(k): str(v) for k, v in (options.get("env") or {}).items()})
    log_dir = ctx.paths.sys_log / str(job)
    log_dir.mkdir(parents=True, exist_ok=True)
    tails = {"stdout": _TailBuffer(OUTPUT_LIMIT), "stderr": _TailBuffer(OUTPUT_LIMIT)}
    with open(log_dir / "errand.stdout.log", "ab") as out_log, open(log_dir / "errand.stderr.log", "ab") as err_log:
        try:
            proc = await asyncio.create_subprocess_exec(
                str(script), cwd=str(ctx.paths.jobs / str(job)), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as error:
            raise AgentActionError(f"run_errand: cannot execute {script}: {error.strerror or error}") from None
        pumps = asyncio.gather(_pump(proc.stdout, out_log, tails["stdout"]),
                               _pump(proc.stderr, err_log, tails["stderr"]))
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(pumps), timeout)
            exit_code = await proc.wait()
        except TimeoutError:
            timed_out = True
            await kill_group(proc)
            await pumps
            exit_code = 128 + signal.SIGKILL  # as a shell reports a killed command
        except asyncio.CancelledError:
            await kill_group(proc)
            pumps.cancel()
            raise
    stderr = tails["stderr"].text(str(job), "stderr")
    if timed_out:
        stderr += f"(bin/run of job '{job}' was killed after {timeout:g}s)\n"
    return {"job": str(job), "exit_code": exit_code, "stdout": tails["stdout"].text(str(job), "stdout"),
            "stderr": stderr}
