"""A Warden-like container for one instance, seen from the DEA (host side).

``start`` creates the cgroups, writes the container's spec next to the instance and starts
``container_init`` (see there for the namespaces and mounts); ``wait`` gives the app's exit
status; ``stop`` asks politely (SIGTERM, forwarded to the app) then kills; ``destroy``
leaves nothing: no process, no cgroup. The network namespace is the VM's own (each
instance gets its own port), like Warden's NAT-ed ports without the veth pair.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cgroups import CgroupSet

log = logging.getLogger(__name__)

INIT = Path(__file__).with_name("container_init.py")
SETUP_FAILED = 125
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ContainerSpec:
    instance_id: str
    directory: Path           # <base>/instances/<id>: app/ (bound at /home/vcap/app), logs/
    uid: int
    mem_mb: int
    fds: int
    pids_max: int
    env: dict[str, str]
    command: str
    hide: list[str] = field(default_factory=list)

    @property
    def app_dir(self) -> Path:
        return self.directory / "app"

    @property
    def logs_dir(self) -> Path:
        return self.directory / "logs"


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
        spec = self.spec
        spec.logs_dir.mkdir(parents=True, exist_ok=True)
        if self.cgroups is not None:
            self.cgroups.create(spec.mem_mb * 1024 * 1024, spec.pids_max)
        init_spec = {
            "dea_pid": os.getpid(), "hostname": spec.instance_id[:32], "app_dir": str(spec.app_dir),
            "uid": spec.uid, "gid": spec.uid, "fds": spec.fds, "tmp_mb": max(16, spec.mem_mb),
            "cgroups": [str(p) for p in self.cgroups.paths] if self.cgroups else [],
            "stdout": str(spec.logs_dir / "stdout.log"), "stderr": str(spec.logs_dir / "stderr.log"),
            "env": spec.env, "command": spec.command, "hide": spec.hide}
        spec_path = spec.directory / "container.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # env may hold secrets
        with os.fdopen(fd, "w") as f:
            json.dump(init_spec, f)
        with open(spec.logs_dir / "container.log", "ab") as container_log:
            # From the loop's thread: PDEATHSIG in the keeper follows this thread's life.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", str(INIT), str(spec_path), stdin=asyncio.subprocess.DEVNULL,
                stdout=container_log, stderr=container_log, start_new_session=True, cwd="/",
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        self.started_at = time.time()

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
        """Remove the cgroups (killing any straggler in them). Call after ``kill``."""
        if self.cgroups is not None:
            self.cgroups.destroy()

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
