"""Rendering release templates off the director's event loop, bounded in time and memory.

A template is code from the release's author. Rendered in the director's own process, a
nested loop stalls the API, heartbeats and lock renewal, and a huge string exhausts its
memory. So all instances of a deploy render in one worker process (``render_worker``;
one process per deploy keeps it fast), awaited here with asyncio. The worker caps its own
address space and stops a template at its time limit with an alarm; this side kills it
when a template runs a few seconds past that (code the alarm cannot interrupt).
A template over a limit becomes a RenderError naming the job, the template and the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import signal
import sys
from dataclasses import dataclass
from typing import Any

from .errors import RenderError
from .render import RenderedInstance, package_rendered
from .render_worker import RenderRequest, WorkerInput

WORKER_COMMAND = [sys.executable, "-I", "-m", "bosh_py.release.render_worker"]
MIB = 1 << 20
KILL_GRACE = 5.0  # seconds past the time limit before the worker is killed from outside


@dataclass(frozen=True)
class RenderLimits:
    """What one template may take: wall-clock seconds and MiB of memory."""

    seconds: float = 10.0
    memory_mib: int = 256

    def too_long(self, where: str) -> RenderError:
        return _limit_error(f"{where}: rendering took longer than {self.seconds:g} s")

    def too_big(self, where: str) -> RenderError:
        return _limit_error(f"{where}: rendering used more than {self.memory_mib} MiB")


def _limit_error(problem: str) -> RenderError:
    return RenderError(f"Unable to render templates: {problem}", [problem])


def _not_rendered(reason: str) -> RenderError:
    return _limit_error(f"not rendered: {reason}")


RenderResult = RenderedInstance | RenderError


class _Worker:
    """One running render_worker process and what it has said so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr_tail = b""
        self.where: str | None = None

    async def collect_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(4096):
            self.stderr_tail = (self.stderr_tail + chunk)[-2000:]

    async def next_message(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next message; None at the end of its output. Times out per template."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            return None
        if len(line) > MIB:  # a big rendered instance: parse it beside the loop, not on it
            return await asyncio.to_thread(json.loads, line)
        return json.loads(line)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()

    def death(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name if -code in signal.valid_signals() else -code}"
        else:
            how = f"exited {code}"
        detail = self.stderr_tail.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"the rendering process {how}" + (f": {detail[0]}" if detail[0] else "")


async def _start_worker(stream_limit: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *WORKER_COMMAND, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, limit=stream_limit)


class RenderProcesses:
    """Where a render gets its worker process: with ``keep_spare``, one started ahead of the
    next render and idle until then (blocked reading its input; its limits apply once it
    has read), else a fresh one each time. Each process renders one deploy and exits, so
    no template sees what another deploy's left behind. Owned by one event loop; ``close``
    ends the spare."""

    def __init__(self, keep_spare: bool = False) -> None:
        self.keep_spare = keep_spare
        self._spare: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._spare_limit = 0

    def start_spare(self, stream_limit: int = 4 * RenderLimits().memory_mib * MIB) -> None:
        if self.keep_spare and self._spare is None:
            self._spare = asyncio.create_task(_start_worker(stream_limit))
            self._spare_limit = stream_limit

    async def take(self, stream_limit: int) -> asyncio.subprocess.Process:
        spare, self._spare = self._spare, None
        process = await _started(spare) if spare is not None and self._spare_limit == stream_limit else None
        if spare is not None and process is None:
            await _end(spare)
        self.start_spare(stream_limit)
        return process if process is not None else await _start_worker(stream_limit)

    async def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            await _end(spare)


async def _started(spare: asyncio.Task[asyncio.subprocess.Process]) -> asyncio.subprocess.Process | None:
    """The spare if it started and is still waiting for work."""
    try:
        process = await spare
    except OSError:
        return None
    return process if process.returncode is None else None


async def _end(spare: asyncio.Task[asyncio.subprocess.Process]) -> None:
    spare.cancel()
    try:
        process = await spare
    except (asyncio.CancelledError, OSError):
        return
    await _Worker(process).kill()


async def render_isolated(requests: list[RenderRequest], limits: RenderLimits = RenderLimits(),
                          processes: RenderProcesses | None = None) -> list[RenderResult]:
    """One result per request, in order: the rendered instance or the RenderError to report.

    After a template exceeds a limit the worker is gone, so that instance gets the limit
    error and the ones after it a "not rendered" error.
    """
    if not requests:
        return []
    templates = sum(len(job.spec.templates) + 1 for request in requests for job in request.jobs)
    work = WorkerInput(requests, limits.seconds, limits.memory_mib * MIB, int(limits.seconds * templates) + 30)
    payload = pickle.dumps(work)
    process = await (processes or RenderProcesses()).take(4 * limits.memory_mib * MIB)
    worker = _Worker(process)
    stderr_reader = asyncio.create_task(worker.collect_stderr())
    results: list[RenderResult] = []
    try:
        assert process.stdin is not None
        try:
            process.stdin.write(payload)
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker died before reading; _read_results reports how
        results = await _read_results(worker, len(requests), limits)
        if len(results) == len(requests):  # let it end the Ruby renderers it started
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), KILL_GRACE)
    finally:
        await worker.kill()
        await stderr_reader
    return results + [_not_rendered("an earlier instance failed to render")] * (len(requests) - len(results))


async def _read_results(worker: _Worker, count: int, limits: RenderLimits) -> list[RenderResult]:
    results: list[RenderResult] = []
    while len(results) < count:
        try:
            message = await worker.next_message(limits.seconds + KILL_GRACE)
        except asyncio.TimeoutError:
            where = worker.where or f"instance {len(results)}"
            results.append(limits.too_long(where))
            return results
        if message is None:
            await worker.process.wait()
            where = worker.where or f"instance {len(results)}"
            results.append(_limit_error(f"{where}: {worker.death()}"))
            return results
        if "started" in message:
            worker.where = str(message["where"])
        elif "limit" in message:
            where = str(message["where"])
            results.append(limits.too_big(where) if message["limit"] == "memory" else limits.too_long(where))
            return results
        elif "files" in message:
            results.append(await asyncio.to_thread(package_rendered, message["files"]))
            worker.where = None
        else:
            results.append(RenderError(str(message["message"]), [str(e) for e in message["errors"]]))
            worker.where = None
    return results
