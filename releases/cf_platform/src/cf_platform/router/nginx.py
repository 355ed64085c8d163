"""Run nginx as the router's child and apply new configurations to it.

Why a child rather than a second monit process: the control plane owns the configuration
nginx must start with, knows the master's PID without a race, and can restart nginx with
the current routes if it dies. nginx runs in the control plane's process group (the agent
stops a job by signalling the group) and gets SIGTERM if the control plane dies
(PR_SET_PDEATHSIG), so it never outlives the program that drives it.

``NginxProcess`` starts, reloads (``nginx -t`` first, then SIGHUP to the master: nginx
swaps workers without dropping connections) and stops nginx. ``ConfigApplier`` debounces:
a burst of registrations marks the table dirty many times and causes one render, one test
and one reload; an unchanged rendering causes none (re-registrations every 20 s). A route
nginx refuses is dropped rather than allowed to block every later change.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import time
from pathlib import Path
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_WORKER_TITLES = (b"nginx: worker process", b"nginx: cache")


class NginxError(RuntimeError):
    """nginx refused a configuration or would not start."""


def _find_prctl() -> Callable[..., int] | None:
    """Resolved once, in the parent: the forked child (preexec_fn) then only calls it."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the process group kill still applies
        return None


_PRCTL = _find_prctl()


def _prctl(option: int, value: int) -> None:
    if _PRCTL is not None:
        _PRCTL(option, value, 0, 0, 0)


def become_subreaper() -> None:
    """Orphaned nginx workers (their master was killed) become our children, not init's,
    so ``reap_orphaned_workers`` can find them: left alone they keep serving the old
    routes on the shared listening sockets."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _children() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return pids


def reap_orphaned_workers() -> list[int]:
    """SIGKILL and reap nginx workers that outlived their master; returns their pids."""
    killed = []
    for pid in _children():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(_WORKER_TITLES):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            killed.append(pid)
    return killed


def _die_with_parent() -> None:
    """preexec_fn: the kernel sends SIGTERM to nginx when the control plane exits."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class NginxProcess:
    """One nginx master process running ``conf_path`` in the foreground (daemon off)."""

    def __init__(self, binary: str, conf_path: Path, run_dir: Path) -> None:
        self.binary = binary
        self.conf_path = conf_path
        self.run_dir = run_dir
        self.pid_file = run_dir / "nginx.pid"
        self._proc: asyncio.subprocess.Process | None = None
        self.reloads = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def _args(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.run_dir), "-c", str(self.conf_path), *extra]

    async def test(self, conf_path: Path) -> None:
        """``nginx -t`` on ``conf_path``; raises NginxError with nginx's own message."""
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-q", "-t", "-p", str(self.run_dir), "-c", str(conf_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            raise NginxError(output.decode(errors="replace").strip() or f"nginx -t exited {proc.returncode}")

    async def start(self, timeout: float = 10.0) -> None:
        """Start nginx and return once it listens (it writes its pid file after binding)."""
        self._kill_leftover()
        orphans = reap_orphaned_workers()
        if orphans:
            log.warning("killed nginx workers left by a dead master: %s", orphans)
        self.pid_file.unlink(missing_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            *self._args(), stdin=asyncio.subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                raise NginxError(f"nginx exited with {self._proc.returncode} at start "
                                 f"(see its error log and the router's stderr)")
            if self.pid_file.exists():
                log.info("nginx started (pid %d)", self._proc.pid)
                return
            await asyncio.sleep(0.02)
        await self.stop()
        raise NginxError(f"nginx did not start within {timeout:g}s")

    def reload(self) -> None:
        """SIGHUP the master: it re-reads the configuration and replaces its workers."""
        if self.pid is None:
            raise NginxError("nginx is not running")
        os.kill(self.pid, signal.SIGHUP)
        self.reloads += 1

    async def wait(self) -> int:
        assert self._proc is not None
        return await self._proc.wait()

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT (graceful: finish requests in flight), SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGQUIT, timeout), (signal.SIGKILL, 5.0)):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                await asyncio.wait_for(proc.wait(), wait)
                break
            except asyncio.TimeoutError:
                log.warning("nginx did not exit on signal %d within %gs", sig, wait)
        log.info("nginx stopped")

    def _kill_leftover(self) -> None:
        """An nginx from an earlier run of this job (pid file, same config) holds the ports."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return
        if str(self.conf_path).encode() in cmdline and any(b"nginx" in part for part in cmdline):
            log.warning("stopping a leftover nginx (pid %d)", pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    return
                time.sleep(0.02)


class ConfigApplier(Generic[K, V]):
    """Keeps nginx's configuration equal to ``render(table())``, one reload per burst of changes.

    When nginx refuses a new configuration, the table is rebuilt from the last one nginx
    accepted: the routes that changed since are added back in halves, each half tested with
    ``nginx -t``, and a single route nginx still refuses is handed to ``drop`` (removed from
    the table, logged). So one bad route can never freeze the data plane: every later change
    is applied. If even the last accepted table fails, the fault is not a route (a full disk,
    say): nothing is dropped and the next change tries again."""

    def __init__(self, nginx: NginxProcess, table: Callable[[], dict[K, V]],
                 render: Callable[[dict[K, V]], str], drop: Callable[[K], None] | None = None,
                 debounce: float = 0.2) -> None:
        self.nginx = nginx
        self.table = table
        self.render = render
        self.drop = drop
        self.debounce = debounce
        self.current: str | None = None
        self.accepted: dict[K, V] = {}      # the table nginx last accepted
        self.applied = 0
        self.failures = 0
        self.dropped = 0
        self._dirty = asyncio.Event()

    def write_initial(self) -> None:
        """The configuration nginx starts with (before the first NATS message)."""
        table = self.table()
        text = self.render(table)
        _write_atomically(self.nginx.conf_path, text)
        self.current = text
        self.accepted = table

    def mark_dirty(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)  # let the rest of the burst arrive
            self._dirty.clear()
            try:
                await self.apply()
            except NginxError as e:
                self.failures += 1
                log.error("nginx refused the new configuration, keeping the old one: %s", e)

    async def apply(self) -> bool:
        """Render; if the text changed, test it, install it and reload. True if reloaded."""
        table = self.table()
        text = self.render(table)
        if text == self.current:
            return False
        try:
            await self._test(text)
        except NginxError as e:
            self.failures += 1
            log.error("nginx refused the new configuration; rebuilding from the last accepted "
                      "routes: %s", e)
            table = await self._rebuild(table)
            text = self.render(table)
            if text == self.current:
                return False
            await self._test(text)
        self._install(text)
        self.accepted = table
        return True

    async def _test(self, text: str) -> None:
        _write_atomically(self._candidate, text)
        await self.nginx.test(self._candidate)

    @property
    def _candidate(self) -> Path:
        return self.nginx.conf_path.with_suffix(".new")

    def _install(self, text: str) -> None:
        os.replace(self._candidate, self.nginx.conf_path)
        self.current = text
        if self.nginx.running:
            self.nginx.reload()
        self.applied += 1
        log.info("nginx configuration applied (%d bytes, reload %d)", len(text), self.applied)

    async def _rebuild(self, table: dict[K, V]) -> dict[K, V]:
        """The largest table nginx accepts: the last accepted entries still present, plus the
        changed ones that pass ``nginx -t`` (bisected); refused ones are dropped."""
        base = {k: v for k, v in table.items() if k in self.accepted
                and self.render({k: v}) == self.render({k: self.accepted[k]})}
        await self._test(self.render(_sorted(base)))   # raises: not a route's fault
        changed = [k for k in table if k not in base]
        return await self._add_passing(_sorted(base), changed, table)

    async def _add_passing(self, base: dict[K, V], keys: list[K], table: dict[K, V]) -> dict[K, V]:
        if not keys:
            return base
        trial = _sorted({**base, **{k: table[k] for k in keys}})
        try:
            await self._test(self.render(trial))
            return trial
        except NginxError as e:
            if len(keys) == 1:
                self.dropped += 1
                log.error("dropping route %s: nginx refuses it: %s", keys[0], e)
                if self.drop is not None:
                    self.drop(keys[0])
                return base
        middle = len(keys) // 2
        base = await self._add_passing(base, keys[:middle], table)
        return await self._add_passing(base, keys[middle:], table)


def _sorted(table: dict[K, V]) -> dict[K, V]:
    return dict(sorted(table.items()))  # type: ignore[type-var]  # route keys are ordered


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
