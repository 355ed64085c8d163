"""A Warden-like container for one instance or one staging step, seen from the DEA.

``start`` creates the cgroups, writes the container's spec next to it and starts
``container_init`` (see there for the namespaces, the new root and the veth pair);
``wait`` gives the command's exit status; ``stop`` asks politely (SIGTERM, forwarded to
the app) then kills; ``destroy`` leaves nothing: no process, no cgroup, no veth. Each
container has its own network namespace: an instance gets a veth pair and the DEA maps
its port (``nat``); a staging container has loopback only. ``run`` is the synchronous
form for staging steps (a worker thread waits for the command, with a time limit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import nat
from .cgroups import CgroupSet
from .container_net import ContainerNetwork

log = logging.getLogger(__name__)

INIT = Path(__file__).with_name("container_init.py")
SETUP_FAILED = 125
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HOME = "/home/vcap/app"
INIT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Bind:
    """A directory of the VM seen at ``target`` inside the container."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    instance_id: str
    directory: Path           # <base>/instances/<id> (or a staging step's): logs/, rootfs/
    uid: int
    mem_mb: int
    fds: int
    pids_max: int
    env: dict[str, str]
    command: str = ""                     # run with /bin/sh -c ...
    argv: tuple[str, ...] = ()            # ... or exactly this
    binds: tuple[Bind, ...] = ()
    network: ContainerNetwork | None = None   # None: loopback only
    workdir: str = HOME

    @property
    def app_dir(self) -> Path:
        return self.directory / "app"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def rootfs(self) -> Path:
        return self.directory / "rootfs"

    def init_spec(self, cgroups: CgroupSet | None) -> dict:
        """What ``container_init`` reads."""
        return {
            "dea_pid": os.getpid(), "hostname": self.instance_id[:32], "rootfs": str(self.rootfs),
            "uid": self.uid, "gid": self.uid, "fds": self.fds, "tmp_mb": max(16, self.mem_mb),
            "cgroups": [str(p) for p in cgroups.paths] if cgroups else [],
            "stdout": str(self.logs_dir / "stdout.log"), "stderr": str(self.logs_dir / "stderr.log"),
            "env": self.env, "command": self.command, "argv": list(self.argv), "workdir": self.workdir,
            "binds": [[str(b.source), b.target, b.writable] for b in self.binds],
            "network": self.network.to_spec() if self.network else None}

    def prepare(self, cgroups: CgroupSet | None) -> Path:
        """Make the directories and cgroups; write the spec (0600: env may hold secrets)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.rootfs.mkdir(mode=0o700, exist_ok=True)
        if cgroups is not None:
            cgroups.create(self.mem_mb * 1024 * 1024, self.pids_max)
        spec_path = self.directory / "container.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.init_spec(cgroups), f)
        return spec_path


@dataclass
class _CpuSample:
    ticks: int
    at: float


class Container:
    def __init__(self, spec: ContainerSpec, cgroups: CgroupSet | None) -> None:
        self.spec = spec
        self.cgroups = cgroups
        self.process: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None
        self._cpu: _CpuSample | None = None

    async def start(self) -> None:
        spec_path = self.spec.prepare(self.cgroups)
        with open(self.spec.logs_dir / "container.log", "ab") as container_log:
            # From the loop's thread: PDEATHSIG in the keeper follows this thread's life.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", str(INIT), str(spec_path), stdin=asyncio.subprocess.DEVNULL,
                stdout=container_log, stderr=container_log, start_new_session=True, cwd="/",
                env=INIT_ENV)
        self.started_at = time.time()

    def run(self, timeout: float) -> int:
        """Run to the end (blocking; the calling thread must live as long: PDEATHSIG). Returns
        the command's status; raises ``TimeoutError`` after killing it at ``timeout``."""
        spec_path = self.spec.prepare(self.cgroups)
        try:
            with open(self.spec.logs_dir / "container.log", "ab") as container_log:
                process = subprocess.Popen([sys.executable, "-I", str(INIT), str(spec_path)],
                                           stdin=subprocess.DEVNULL, stdout=container_log, stderr=container_log,
                                           start_new_session=True, cwd="/", env=INIT_ENV)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()  # the keeper; its PID namespace dies with it
                process.wait()
                raise TimeoutError(f"did not finish within {timeout:g} s") from None
            return 128 - code if code < 0 else code
        finally:
            self.destroy()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait(self) -> int:
        """The app's exit status (128+N for signal N; 125: the container failed to start)."""
        assert self.process is not None
        code = await self.process.wait()
        return 128 - code if code < 0 else code

    async def stop(self, timeout: float) -> None:
        """SIGTERM (forwarded to the app's session), then SIGKILL after ``timeout``."""
        if not self.alive:
            return
        assert self.process is not None
        try:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout)
        except asyncio.TimeoutError:
            log.info("container %s ignored SIGTERM for %g s: killing it", self.spec.instance_id, timeout)
        except ProcessLookupError:
            pass
        await self.kill()

    async def kill(self) -> None:
        """SIGKILL the keeper: its PID 1 dies with it (PDEATHSIG), and with PID 1 the rest."""
        if self.process is None:
            return
        if self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
            await self.process.wait()

    def destroy(self) -> None:
        """Remove the cgroups (killing any straggler in them) and the host end of the veth
        pair (normally gone with the container's namespace). Call after ``kill``."""
        if self.cgroups is not None:
            self.cgroups.destroy()
        if self.spec.network is not None:
            nat.remove_link(self.spec.network.host_if)

    def oom_killed(self) -> bool:
        return self.cgroups is not None and self.cgroups.oom_kills() > 0

    # --- stats ----------------------------------------------------------------------------

    def _pids(self) -> list[int]:
        if self.cgroups is not None:
            return self.cgroups.procs()
        return _descendants(self.pid) if self.pid else []

    def usage(self) -> dict:
        """{mem (bytes), cpu (% of one core since the last sample), disk (bytes)}."""
        pids = self._pids()
        mem = self.cgroups.memory_usage() if self.cgroups is not None else None
        ticks = 0
        rss = 0
        for pid in pids:
            stat = _proc_stat(pid)
            if stat is not None:
                ticks += stat[0]
                rss += stat[1]
        now = time.monotonic()
        cpu = 0.0
        if self._cpu is not None and now > self._cpu.at:
            cpu = max(0.0, (ticks - self._cpu.ticks) / CLOCK_TICKS / (now - self._cpu.at) * 100)
        elif self.started_at:
            cpu = ticks / CLOCK_TICKS / max(time.time() - self.started_at, 0.001) * 100
        self._cpu = _CpuSample(ticks, now)
        return {"mem": mem if mem is not None else rss, "cpu": round(cpu, 2), "disk": _disk_usage(self.spec.app_dir)}


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(utime + stime ticks, rss bytes) of a process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, rss (pages) 24
    return int(fields[11]) + int(fields[12]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(text[text.rfind(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def _disk_usage(path: Path) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total
