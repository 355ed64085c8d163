"""Job process supervision: what monit does on a BOSH VM, in asyncio.

Each process from the jobs' ``monit`` files runs in the foreground in its own session
(process group), stdout/stderr appended to ``/var/vcap/sys/log/<job>/<proc>.{stdout,stderr}.log``,
PID in ``/var/vcap/sys/run/<job>/<proc>.pid``. An unexpected exit is reported (the agent
turns it into an alert) and the process is restarted after a backoff that doubles while
it keeps crashing.

States, per process: ``starting`` (up less than ``running_after``, a quarter second: how
long a job must stay up to count as healthy is the director's watch time, the ``update``
block's, which samples the state after its low end; a longer floor here would silently
stretch every canary and batch to it), ``running``,
``failing`` (exited and waiting to restart, or restarted less than ``stable_after`` ago, so
a crash loop never looks healthy to a canary check), ``stopped``.

Processes survive an agent restart (own sessions); the next agent adopts them instead of
starting duplicates. A process is recognised by its PID file, being a session leader, and
the ``BOSH_PY_PROCESS=<job>/<name>@<definition hash>`` variable the agent put in its
environment (command lines change when wrapper scripts exec the real program). A
leftover whose definition changed is stopped and started anew.

Classic monit checks (``check process ... with pidfile``) are supervised by
``monit_process.MonitRunner`` instead: the pidfile is the truth, start/stop programs are
run, ``depends on`` orders starts (a check starts once its dependencies have a live
process) and stops (dependents first).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from bosh_py.agent.commands import base_env
from bosh_py.agent.monit_classic import MonitCheck
from bosh_py.agent.monit_process import MonitRunner
from bosh_py.agent.process_state import Backoff, ProcessExit, ProcessStatus, RestartingProcess
from bosh_py.agent.monitfile import ProcessSpec, Supervised, load_job_processes
from bosh_py.agent.paths import Paths
from bosh_py.agent.procfs import (
    pid_alive,
    process_age,
    process_environ_value,
    process_session,
)

IDENTITY_VAR = "BOSH_PY_PROCESS"
RUNNING_AFTER = 0.25  # seconds up before a process reports "running" (see the module docstring)


class ProcessRunner(RestartingProcess):
    def __init__(self, spec: ProcessSpec, job_target: str, paths: Paths,
                 on_exit: Callable[[ProcessExit], None], log: logging.Logger,
                 backoff: Backoff, running_after: float, stable_after: float):
        super().__init__(spec, job_target, paths, on_exit, log, backoff, running_after, stable_after)
        self.spec: ProcessSpec = spec
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def identity(self) -> str:
        """What this process's environment says it is: key and definition hash."""
        digest = hashlib.sha256(repr((self.spec, self.job_target)).encode()).hexdigest()[:16]
        return f"{self.spec.key}@{digest}"

    @property
    def log_dir(self) -> Path:
        return self.paths.sys_log / self.spec.job

    @property
    def pid_file(self) -> Path:
        return self.paths.sys_run / self.spec.job / f"{self.spec.name}.pid"

    def status(self) -> ProcessStatus:
        up = time.monotonic() - self.started_at if self.pid else 0.0
        return ProcessStatus(self.spec.job, self.spec.name, self.state, self.pid, up, self.crashes)

    def start(self, adopt_pid: int | None = None) -> None:
        if adopt_pid is not None:  # visible in get_state at once, not when the task runs
            self.pid = adopt_pid
            self.started_at = time.monotonic() - process_age(adopt_pid)
        self._task = asyncio.create_task(self._run(adopt_pid), name=f"supervise {self.spec.key}")

    async def stop(self, timeout: float) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``."""
        self._stopping = True
        self._stop_event.set()
        if self._task is None:
            return
        pid = self.pid
        if pid is not None:
            _killpg(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            if self.pid is not None:
                self._log.warning("%s did not stop within %gs, killing", self.spec.key, timeout)
                _killpg(self.pid, signal.SIGKILL)
            await self._task
        if pid is not None:
            _killpg(pid, signal.SIGKILL)  # leftovers of the group

    async def _run(self, adopt_pid: int | None) -> None:
        consecutive = 0
        while not self._stopping:
            if adopt_pid is not None:
                self.pid, adopt_pid = adopt_pid, None
                self._log.info("adopted %s (pid %d)", self.spec.key, self.pid)
                returncode = await self._wait_foreign(self.pid)
            else:
                returncode = await self._spawn_and_wait()
            ran = time.monotonic() - self.started_at
            pid, self.pid = self.pid or 0, None
            self.pid_file.unlink(missing_ok=True)
            if pid:
                _killpg(pid, signal.SIGKILL)  # children left in the group would hold ports
            if self._stopping:
                break
            consecutive = 1 if ran >= self._backoff.reset_after else consecutive + 1
            delay = self._backoff.delay(consecutive)
            self.crashes += 1
            self._last_crash = time.monotonic()
            self._log.warning("%s (pid %s) exited with %s after %.1fs; restarting in %gs",
                              self.spec.key, pid, returncode, ran, delay)
            try:
                self._on_exit(ProcessExit(self.spec.job, self.spec.name, pid, returncode,
                                          delay, self.crashes))
            except Exception:  # an alert must never stop supervision
                self._log.exception("exit callback failed")
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
            except TimeoutError:
                pass

    async def _spawn_and_wait(self) -> int | None:
        spec = self.spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        cwd = spec.working_dir or str(self.paths.root)
        out = open(self.log_dir / f"{spec.name}.stdout.log", "ab")
        err = open(self.log_dir / f"{spec.name}.stderr.log", "ab")
        self.started_at = time.monotonic()
        try:
            Path(cwd).mkdir(parents=True, exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                spec.executable, *spec.args, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=err, cwd=cwd, env=base_env({**dict(spec.env), IDENTITY_VAR: self.identity}),
                start_new_session=True)
        except OSError as e:
            err.write(f"bosh-py agent: cannot start {spec.executable}: {e}\n".encode())
            return 127
        finally:
            out.close()
            err.close()
        self._proc = proc
        self.pid = proc.pid
        self.pid_file.write_text(f"{proc.pid}\n")
        self._log.info("started %s (pid %d)", spec.key, proc.pid)
        if self._stopping:  # stop() raced with the spawn
            _killpg(proc.pid, signal.SIGTERM)
        return await proc.wait()

    async def _wait_foreign(self, pid: int) -> int | None:
        """An adopted process is not our child: poll until it is gone."""
        while pid_alive(pid):
            try:
                await asyncio.wait_for(self._stop_event.wait(), 0.5)
            except TimeoutError:
                continue
            while pid_alive(pid):  # stopping: stop() signalled it
                await asyncio.sleep(0.05)
        return None


class Supervisor:
    """All job processes of this VM. ``start`` reconciles with the installed jobs' monit
    files (changed or removed processes are stopped, new ones started, unchanged ones keep
    running); ``stop`` stops everything."""

    def __init__(self, paths: Paths, on_exit: Callable[[ProcessExit], None],
                 log: logging.Logger, *, running_after: float = RUNNING_AFTER, stable_after: float = 5.0,
                 backoff: Backoff | None = None):
        self.paths = paths
        self._on_exit = on_exit
        self._log = log
        self._running_after = running_after
        self._stable_after = stable_after
        self._backoff = backoff or Backoff()
        self._runners: dict[str, ProcessRunner] = {}
        self.active = False  # "should be running"

    def _job_target(self, job: str) -> str:
        return os.path.realpath(self.paths.jobs / job)

    def _runner(self, spec: Supervised, target: str) -> ProcessRunner | MonitRunner:
        if isinstance(spec, MonitCheck):
            return MonitRunner(spec, target, self.paths, self._on_exit, self._log, self._backoff,
                               self._running_after, self._stable_after)
        return ProcessRunner(spec, target, self.paths, self._on_exit, self._log,
                             self._backoff, self._running_after, self._stable_after)

    async def start(self) -> None:
        specs = load_job_processes(self.paths.jobs)
        wanted = {s.key: (s, self._job_target(s.job)) for s in specs}
        for key, (spec, target) in wanted.items():  # a missing user fails before any change
            if isinstance(spec, MonitCheck) and key not in self._runners:
                self._runner(spec, target).check_users()
        stale = [k for k, r in self._runners.items()
                 if k not in wanted or (r.spec, r.job_target) != wanted[k] or r.state == "stopped"]
        await _stop_in_order([self._runners.pop(k) for k in stale], 30.0)
        fresh: list[tuple[ProcessRunner | MonitRunner, int | None]] = []
        for key, (spec, target) in wanted.items():
            if key in self._runners:
                continue
            runner = self._runner(spec, target)
            self._runners[key] = runner
            pid = None
            if isinstance(runner, ProcessRunner):
                pid, same = self._leftover(runner)
                if pid is not None and not same:
                    self._log.info("stopping outdated %s (pid %d) left by a previous agent", key, pid)
                    await _terminate_foreign(pid, 30.0)
                    pid = None
            fresh.append((runner, pid))
        checks = {r.spec.name: r for r in self._runners.values() if isinstance(r, MonitRunner)}
        for r in checks.values():
            r.deps = [checks[d] for d in r.spec.depends_on]
            r.dependents = []
        for r in checks.values():
            for dep in r.deps:
                dep.dependents.append(r)
        for runner, pid in fresh:
            runner.start(adopt_pid=pid)
        self.active = True

    async def stop(self, timeout: float = 30.0) -> None:
        self.active = False
        runners, self._runners = list(self._runners.values()), {}
        await _stop_in_order(runners, timeout)
        # Processes of a previous agent that were never adopted (e.g. the agent restarted
        # while jobs were meant to be stopped): stop them too.
        probes: list[ProcessRunner | MonitRunner] = []
        for spec in _safe_specs(self.paths.jobs):
            probe = self._runner(spec, "")
            if isinstance(probe, MonitRunner):
                probes.append(probe)
                continue
            pid, _ = self._leftover(probe)
            if pid is not None:
                await _terminate_foreign(pid, timeout)
                probe.pid_file.unlink(missing_ok=True)
        by_name = {p.spec.name: p for p in probes if isinstance(p, MonitRunner)}
        for p in by_name.values():
            p.deps = [by_name[d] for d in p.spec.depends_on if d in by_name]
        await _stop_in_order(probes, timeout)

    def _leftover(self, runner: ProcessRunner) -> tuple[int | None, bool]:
        """``(pid, same_definition)`` for a process a previous agent started for this
        job/process, per the PID file; ``(None, False)`` if there is none (a recycled PID
        is never taken for ours)."""
        try:
            pid = int(runner.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None, False
        if not pid_alive(pid) or process_session(pid) != pid:
            return None, False
        identity = process_environ_value(pid, IDENTITY_VAR)
        if identity is None or identity.split("@")[0] != runner.spec.key:
            return None, False
        return pid, identity == runner.identity

    def statuses(self) -> list[ProcessStatus]:
        return [r.status() for r in self._runners.values()]

    def job_state(self) -> str:
        if not self.active:
            return "stopped"
        states = {r.state for r in self._runners.values()}
        for s in ("failing", "starting", "stopped"):
            if s in states:
                return "failing" if s == "stopped" else s
        return "running"


async def _stop_in_order(runners: list, timeout: float) -> None:
    """Stop ``runners``: dependents before what they depend on (``depends on``), the rest
    at once."""
    def depth(r, trail=()) -> int:
        deps = [d for d in getattr(r, "deps", []) if d in runners and d not in trail]
        return 1 + max((depth(d, (*trail, r)) for d in deps), default=-1)
    levels: dict[int, list] = {}
    for r in runners:
        levels.setdefault(depth(r), []).append(r)
    for level in sorted(levels, reverse=True):
        await asyncio.gather(*(r.stop(timeout) for r in levels[level]))


def _safe_specs(jobs_dir: Path) -> list[Supervised]:
    try:
        return load_job_processes(jobs_dir)
    except Exception:
        return []


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _terminate_foreign(pid: int, timeout: float) -> None:
    _killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    _killpg(pid, signal.SIGKILL)
