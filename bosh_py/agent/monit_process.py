"""Supervising one classic ``check process`` the way monit does on a BOSH VM.

The pidfile is the truth: the process is up while the PID the pidfile names is alive.
The start and stop programs are run, never exec'd as the supervised child: monit splits
the quoted string into argv (no shell), runs it in its own session with cwd ``/``, umask
022, monit's minimal environment (``PATH=/bin:/usr/bin:/sbin:/usr/sbin`` and the
``MONIT_*`` variables), stdin from /dev/null, as ``uid``/``gid`` when the file says so.
What the programs print is appended to ``/var/vcap/sys/log/<job>/<name>.monit.log``.

Start: if the pidfile already names a live process, it is adopted (after an agent
restart, or a process a ctl script left running); otherwise the start program runs and
the start succeeds once the pidfile names a live process within the program's timeout.
A start program may keep running (ctl scripts that ``exec`` the server become it); one
that fails (exit status not 0 with no live pidfile process, or the timeout passes) has
its whole session killed, so a half-started server does not linger, and is retried with
the backoff. A process whose pidfile PID dies is started again the same way; as monit does on a
restart, the checks that ``depends on`` it are stopped first and start again after it.

Stop: the stop program runs (or SIGTERM to the pidfile PID when there is none); the stop
succeeds when the PID is gone. Past the stop program's timeout the agent kills the
program's session, then the process (its process group when it leads one) with SIGKILL:
monit would give up, but the director's ``stop`` must leave nothing running.
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import pwd
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.monit_classic import MonitCheck, MonitProgram
from bosh_py.agent.paths import Paths
from bosh_py.agent.process_state import ProcessExit, ProcessStatus, RestartingProcess
from bosh_py.agent.procfs import CLK_TCK, pid_alive, process_age, read_stat

MONIT_PATH = "/bin:/usr/bin:/sbin:/usr/sbin"
POLL = 0.2  # seconds between pidfile checks (monit's cycle on a BOSH VM is 10 s)


@dataclass(frozen=True)
class RunAs:
    """Resolved ``as uid U and gid G``; None fields mean the agent's own (root)."""
    uid: int | None = None
    gid: int | None = None


def resolve_run_as(check: MonitCheck, program: MonitProgram) -> RunAs:
    """Numeric ids for a program's user and group, or AgentActionError naming the job and
    line when this VM has no such user or group. A uid without gid runs with the user's
    primary group, as monit does."""
    uid = gid = None
    where = f"Job {check.job}: monit line {check.line}: check process {check.name}"
    if program.uid is not None:
        try:
            entry = pwd.getpwuid(int(program.uid)) if program.uid.isdigit() else pwd.getpwnam(program.uid)
        except KeyError:
            raise AgentActionError(f"{where}: user {program.uid!r} does not exist on this VM") from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if program.gid is not None:
        try:
            gid = int(program.gid) if program.gid.isdigit() else grp.getgrnam(program.gid).gr_gid
        except KeyError:
            raise AgentActionError(f"{where}: group {program.gid!r} does not exist on this VM") from None
    return RunAs(uid, gid)


def read_pidfile(path: Path) -> int | None:
    """The live PID a pidfile names, or None (missing, garbage, dead or zombie, or a
    pidfile older than the process: a VM reboot left it and the PID was reused)."""
    try:
        pid = int(path.read_text().split()[0])
        written = path.stat().st_mtime
    except (OSError, ValueError, IndexError):
        return None
    if pid <= 0 or not pid_alive(pid):
        return None
    started = _start_time(pid)
    if started is not None and written < started - STALE_SLACK:
        return None
    return pid


STALE_SLACK = 0.05  # coarse file timestamps may trail the clock by a few milliseconds


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _start_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch, never later than the truth
    (``btime`` is whole seconds, rounded down), so a genuine pidfile, written after its
    process started, is never taken for a stale one."""
    st, boot = read_stat(pid), _boot_time()
    if st is None or boot is None:
        return None
    return boot + st.start_ticks / CLK_TCK


def _monit_env(check: MonitCheck, event: str) -> dict[str, str]:
    return {"PATH": MONIT_PATH, "MONIT_SERVICE": check.name, "MONIT_EVENT": event,
            "MONIT_DESCRIPTION": f"{event} {check.name}", "MONIT_HOST": socket.gethostname(),
            "MONIT_DATE": time.strftime("%a, %d %b %Y %H:%M:%S %z")}


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _protected(pid: int) -> bool:
    """PID 1, the agent and its ancestors: a pidfile is written by the job (maybe as
    vcap), so it must never make the agent signal what keeps the VM running."""
    if pid <= 1:
        return True
    current: int | None = os.getpid()
    while current and current > 1:
        if current == pid:
            return True
        st = read_stat(current)
        current = st.ppid if st else None
    return False


def _kill(pid: int, sig: int) -> None:
    """``pid`` and, when it leads its process group, the whole group (never a protected
    process: see ``_protected``)."""
    if _protected(pid):
        return
    st = read_stat(pid)
    if st is not None and st.pgrp == pid:
        _killpg(pid, sig)
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class MonitRunner(RestartingProcess):
    """One classic check: same face as the YAML ProcessRunner (state, status, start,
    stop), so get_state, heartbeats and ``instances --ps`` show both alike."""

    def __init__(self, spec: MonitCheck, job_target: str, paths: Paths,
                 on_exit: Callable, log: logging.Logger, backoff, running_after: float,
                 stable_after: float):
        super().__init__(spec, job_target, paths, on_exit, log, backoff, running_after, stable_after)
        self.spec: MonitCheck = spec
        self.deps: list[MonitRunner] = []  # what this check ``depends on``
        self.dependents: list[MonitRunner] = []  # the checks that depend on this one
        self._held = False  # stopped on purpose while a dependency restarts
        self._children: set[asyncio.Task] = set()

    @property
    def pid_file(self) -> Path:
        return self.paths.vm(self.spec.pidfile)

    @property
    def log_file(self) -> Path:
        return self.paths.sys_log / self.spec.job / f"{self.spec.name}.monit.log"

    def status(self) -> ProcessStatus:
        up = time.monotonic() - self.started_at if self.pid else 0.0
        return ProcessStatus(self.spec.job, self.spec.name, self.state, self.pid, up, self.crashes)

    def check_users(self) -> None:
        """Fail before anything starts when a program names a user this VM lacks."""
        for program in (self.spec.start, self.spec.stop):
            if program is not None:
                resolve_run_as(self.spec, program)

    def start(self, adopt_pid: int | None = None) -> None:
        pid = read_pidfile(self.pid_file)
        if pid is not None:  # visible in get_state at once
            self.pid = pid
            self.started_at = time.monotonic() - process_age(pid)
            self._log.info("adopted %s (pid %d, from %s)", self.spec.key, pid, self.spec.pidfile)
        for ignored in self.spec.ignored:
            self._log.info("%s: monit %s is accepted and not evaluated", self.spec.key, ignored)
        self._task = asyncio.create_task(self._run(), name=f"monit {self.spec.key}")

    # --- supervision loop -------------------------------------------------------------------

    async def _run(self) -> None:
        consecutive = 0
        while not self._stopping:
            pid = read_pidfile(self.pid_file)
            if pid is not None:
                if self.pid != pid:
                    self._log.info("%s is running (pid %d, from %s)", self.spec.key, pid, self.spec.pidfile)
                    self.pid, self.started_at = pid, time.monotonic() - process_age(pid)
                await self._wait_gone(pid)
                if self._stopping:
                    break
                ran = time.monotonic() - self.started_at
                self.pid = None
                if self._held:  # stopped by hold(): start again once the dependency is up
                    self._held = False
                    continue
                failure = f"pid {pid} from {self.spec.pidfile} is gone after {ran:.1f}s"
                returncode = None
                await self._hold_dependents()
            else:
                self.pid = None
                if not await self._deps_running():
                    break
                started_at = time.monotonic()
                returncode, failure = await self._start_once()
                if failure is None or self._stopping:
                    continue
                ran = time.monotonic() - started_at
            consecutive = 1 if ran >= self._backoff.reset_after else consecutive + 1
            delay = self._backoff.delay(consecutive)
            self.crashes += 1
            self._last_crash = time.monotonic()
            self._log.warning("%s: %s; starting again in %gs", self.spec.key, failure, delay)
            try:
                self._on_exit(ProcessExit(self.spec.job, self.spec.name, pid or 0,
                                              returncode, delay, self.crashes))
            except Exception:  # noqa: BLE001 - an alert must never stop supervision
                self._log.exception("exit callback failed")
            await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop_event.wait(), seconds)
        except TimeoutError:
            pass

    async def _wait_gone(self, pid: int) -> None:
        while pid_alive(pid) and not self._stopping:
            await self._sleep(POLL)

    async def _hold_dependents(self) -> None:
        """As monit restarts a service: what depends on it is stopped first (dependents of
        dependents before them) and starts again once this one is up."""
        for dependent in self.dependents:
            await dependent.hold()

    async def hold(self) -> None:
        if self._stopping:
            return
        await self._hold_dependents()
        if self.pid is None:
            return
        self._held = True
        self._log.info("stopping %s while a process it depends on restarts", self.spec.key)
        await stop_check(self.spec, self.paths, self._log, fallback_timeout=30.0, spawn=self._spawn)

    async def _deps_running(self) -> bool:
        """``depends on``: wait until every dependency has a live process (False: stopping)."""
        while any(d.pid is None for d in self.deps):
            if self._stopping:
                return False
            await self._sleep(POLL)
        return not self._stopping

    async def _start_once(self) -> tuple[int | None, str | None]:
        """Run the start program; ``(exit status, None)`` once the pidfile names a live
        process, ``(exit status or None, why)`` when it did not."""
        program = self.spec.start
        try:
            proc = await self._spawn(program, "start")
        except (OSError, AgentActionError) as e:
            return 127, f"start program {program.argv[0]} cannot run: {e}"
        self.started_at = time.monotonic()
        deadline = self.started_at + program.timeout
        while time.monotonic() < deadline and not self._stopping:
            pid = read_pidfile(self.pid_file)
            if pid is not None:
                self.pid, self.started_at = pid, time.monotonic()
                self._log.info("started %s (pid %d)", self.spec.key, pid)
                return proc.returncode, None
            if proc.returncode not in (None, 0):
                _killpg(proc.pid, signal.SIGKILL)
                return proc.returncode, (f"start program exited with {proc.returncode} and "
                                         f"{self.spec.pidfile} names no running process")
            await asyncio.sleep(POLL / 2)
        _killpg(proc.pid, signal.SIGKILL)  # the program and whatever it started
        if self._stopping:
            return proc.returncode, "stopped while starting"
        return proc.returncode, (f"start program timed out after {program.timeout:g}s: "
                                 f"{self.spec.pidfile} names no running process")

    async def _spawn(self, program: MonitProgram, event: str) -> asyncio.subprocess.Process:
        run_as = resolve_run_as(self.spec, program)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:  # noqa: ASYNC230 - a local append, as for YAML logs
            out.write(f"[{time.strftime('%Y-%m-%dT%H:%M:%S')}] {event}: {' '.join(program.argv)}\n".encode())
            out.flush()
            proc = await asyncio.create_subprocess_exec(
                *program.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                cwd="/", env=_monit_env(self.spec, event.capitalize()), start_new_session=True,
                user=run_as.uid, group=run_as.gid, extra_groups=[] if run_as.uid is not None else None,
                umask=0o022)
        reaper = asyncio.create_task(proc.wait())  # reap it whenever it ends
        self._children.add(reaper)
        reaper.add_done_callback(self._children.discard)
        return proc

    # --- stop -------------------------------------------------------------------------------

    async def stop(self, timeout: float | None = None) -> None:
        """Stop supervising, then run the stop program (its own timeout; ``timeout`` only
        when the file gives no stop program) and make sure the process is gone."""
        self._stopping = True
        self._stop_event.set()
        if self._task is not None:
            await self._task
        await stop_check(self.spec, self.paths, self._log, fallback_timeout=timeout or 30.0,
                         spawn=self._spawn)
        self.pid = None
        if self._children:
            await asyncio.wait(list(self._children), timeout=1)


async def stop_check(check: MonitCheck, paths: Paths, log: logging.Logger, *,
                     fallback_timeout: float, spawn: Callable | None = None) -> None:
    """Stop what ``check``'s pidfile names: also used for a previous agent's leftovers."""
    pid_file = paths.vm(check.pidfile)
    pid = read_pidfile(pid_file)
    if pid is None:
        return
    if _protected(pid):
        log.error("%s: %s names pid %d (init, the agent or its parent): not stopping it",
                  check.key, check.pidfile, pid)
        return
    program = check.stop
    proc = None
    timeout = fallback_timeout
    if program is not None and spawn is not None:
        try:
            proc = await spawn(program, "stop")
            timeout = program.timeout
        except (OSError, AgentActionError) as e:  # e.g. the job that held it was removed
            log.warning("%s: stop program cannot run (%s); sending SIGTERM", check.key, e)
    if proc is None:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while ((pid_alive(pid) or (proc is not None and proc.returncode is None))
           and time.monotonic() < deadline):
        await asyncio.sleep(POLL / 2)
    if proc is not None and proc.returncode is None:
        _killpg(proc.pid, signal.SIGKILL)
    if pid_alive(pid):
        log.warning("%s (pid %d) still running %gs after stop; killing it", check.key, pid, timeout)
        _kill(pid, signal.SIGKILL)
        while pid_alive(pid) and time.monotonic() < deadline + 5:
            await asyncio.sleep(0.05)
    log.info("stopped %s", check.key)
