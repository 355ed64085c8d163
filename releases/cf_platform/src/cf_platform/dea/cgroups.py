"""cgroups for one container: ``memory`` and ``pids`` limits, on cgroup v1 or v2.

On cgroup v1 (and systemd's hybrid layout) groups live at
``<root>/<controller>/<parent>/<instance id>``. On a bosh-py VM the local CPI delegates the
VM's own subtree at /sys/fs/cgroup/{memory,pids} (vm_type ``cloud_properties: {cgroups:
true}``), so the same paths work on a VM and on a host. On cgroup v2 (Debian 12's
default) one group ``<root>/<parent>/<instance id>`` carries every controller
(``cgroups_v2``). ``usable`` tells the layouts apart (``cgroup_layout``) once at start;
each set then asks its root whether it is unified.
Limits are enforced by the kernel: an app over its memory limit is OOM-killed and the
group's ``oom_kill`` count says so afterwards.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import cgroup_layout, cgroups_v2

CONTROLLERS = ("memory", "pids")


class CgroupError(Exception):
    pass


@dataclass(frozen=True)
class CgroupSet:
    root: Path
    parent: str
    name: str

    @cached_property
    def unified(self) -> bool:
        """cgroup v2: one group for every controller."""
        return cgroups_v2.is_unified(self.root)

    def path(self, controller: str) -> Path:
        if self.unified:
            return self.root / self.parent / self.name
        return self.root / controller / self.parent / self.name

    @property
    def paths(self) -> list[Path]:
        if self.unified:
            return [self.root / self.parent / self.name]
        return [self.path(c) for c in CONTROLLERS]

    def create(self, memory_bytes: int, pids_max: int) -> None:
        """Make the groups and set their limits; on failure nothing is left behind."""
        if self.unified:
            try:
                cgroups_v2.create(self.paths[0], memory_bytes, pids_max)
            except (OSError, cgroups_v2.CgroupV2Error) as error:
                self.destroy()
                raise CgroupError(f"cannot create cgroups for {self.name} under {self.root}: {error}") from error
            return
        try:
            for controller in CONTROLLERS:
                self.path(controller).mkdir(parents=True, exist_ok=True)
            memory = self.path("memory")
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():  # only with swap accounting; keeps swap from stretching the limit
                try:
                    swap.write_text(str(memory_bytes))
                except OSError:
                    pass
            (self.path("pids") / "pids.max").write_text(str(pids_max))
        except OSError as error:
            self.destroy()
            raise CgroupError(f"cannot create cgroups for {self.name} under {self.root}: {error}") from error

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for path in self.paths:
            try:
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(pids)

    def oom_kills(self) -> int:
        """How many processes the OOM killer took in this group (0 if unknown)."""
        if self.unified:
            return cgroups_v2.memory_events(self.paths[0]).get("oom_kill", 0)
        try:
            text = (self.path("memory") / "memory.oom_control").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def memory_failcnt(self) -> int:
        if self.unified:  # v2 counts the times usage hit memory.max
            return cgroups_v2.memory_events(self.paths[0]).get("max", 0)
        try:
            return int((self.path("memory") / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return 0

    def memory_usage(self) -> int | None:
        """RSS + cache of the group (bytes), from memory.stat."""
        if self.unified:
            return cgroups_v2.memory_usage(self.paths[0])
        try:
            stats = dict(line.split() for line in (self.path("memory") / "memory.stat").read_text().splitlines())
            return int(stats.get("total_rss", stats.get("rss", 0))) + int(stats.get("total_cache", stats.get("cache", 0)))
        except (OSError, ValueError):
            return None

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the groups until none is left."""
        deadline = time.monotonic() + timeout
        if self.unified and self.procs():
            cgroups_v2.kill(self.paths[0])
        while True:
            pids = self.procs()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {pids} in {self.name} did not die")
            time.sleep(0.02)

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill what is left and rmdir the groups (the kernel frees them lazily: retry)."""
        self.kill_all(timeout)
        for path in self.paths:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise CgroupError(f"cannot remove {path}") from None
                    time.sleep(0.02)

    def exists(self) -> bool:
        return any(p.exists() for p in self.paths)


def _bases(root: Path, parent: str) -> list[Path]:
    """The parent group(s): one per controller on v1, one on v2."""
    if cgroups_v2.is_unified(root):
        return [root / parent]
    return [root / controller / parent for controller in CONTROLLERS]


def leftovers(root: Path, parent: str) -> list[CgroupSet]:
    """Groups a previous DEA process left under the parent (its containers died with it)."""
    names: set[str] = set()
    for base in _bases(root, parent):
        if base.is_dir():
            names.update(p.name for p in base.iterdir() if p.is_dir())
    return [CgroupSet(root, parent, name) for name in sorted(names)]


def usable(root: Path, parent: str, proc: Path = Path("/proc/self")) -> str | None:
    """None when groups can be made under ``root``; otherwise why not and what to change.
    On cgroup v2 this enables the controllers down to the parent (``cgroups_v2.prepare``).
    ``proc``: where this process's mountinfo and cgroup files are."""
    try:
        layout = cgroup_layout.read(root, proc)
    except cgroup_layout.CgroupLayoutError as error:
        return str(error)
    if layout.kind == cgroup_layout.V2:
        return cgroups_v2.prepare(root, parent, layout)
    if layout.kind == cgroup_layout.NONE:
        return (f"no cgroup file system is mounted at {root} (neither cgroup v1 memory and pids hierarchies "
                f"nor cgroup v2): on a bosh-py local-CPI VM give the DEA's vm_type cloud_properties "
                f"{{cgroups: true}} (the local CPI delegates them on cgroup v1 hosts); elsewhere mount them "
                f"there or set cgroup_root")
    for controller in CONTROLLERS:
        base = root / controller
        if not (base / "cgroup.procs").exists():
            return f"{base} is not a cgroup v1 {controller} hierarchy"
        try:
            (base / parent).mkdir(exist_ok=True)
        except OSError as error:
            return f"cannot create {base / parent}: {error}"
    return None


def remove_parent(root: Path, parent: str) -> None:
    for base in _bases(root, parent):
        try:
            base.rmdir()
        except OSError:
            pass
