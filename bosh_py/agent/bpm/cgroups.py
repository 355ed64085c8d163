"""Memory and process limits through cgroup v1, where the VM has writable hierarchies.

On the local CPI a VM gets them with ``cloud_properties.cgroups: true`` (mounted at
/sys/fs/cgroup/{memory,pids}); elsewhere the limit is reported as not enforced instead of
silently ignored. cgroup v2 (a stock Debian 12 cloud image) is not supported yet and is
named as such. Without a pids hierarchy, ``limits.processes`` falls back to RLIMIT_NPROC.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from bosh_py.agent.bpm.config import BpmProcess

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CgroupSetup:
    groups: tuple[Path, ...]          # directories the container joins
    pids_enforced: bool
    warnings: tuple[str, ...]


def group_name(process: BpmProcess) -> str:
    return f"bpm-{process.job}-{process.name}"


def usable(controller: str, root: Path = CGROUP_ROOT) -> Path | None:
    """The hierarchy's directory when it is cgroup v1 and writable by us."""
    path = root / controller
    marker = "memory.limit_in_bytes" if controller == "memory" else "pids.max"
    if (path / "cgroup.procs").is_file() and (path / marker).exists() and os.access(path, os.W_OK):
        return path
    return None


def _why_not(controller: str, root: Path) -> str:
    if (root / "cgroup.controllers").exists():
        return "this VM has cgroup v2, which bpm on bosh-py does not support yet"
    return (f"this VM has no writable cgroup v1 {controller} hierarchy "
            "(on the local CPI: cloud_properties.cgroups: true)")


def setup(process: BpmProcess, root: Path = CGROUP_ROOT) -> CgroupSetup:
    groups: list[Path] = []
    warnings: list[str] = []
    pids_enforced = False
    limits = process.limits
    if limits.memory is not None:
        memory = usable("memory", root)
        if memory is None:
            warnings.append(f"memory limit of {process.key} not enforced: {_why_not('memory', root)}")
        else:
            group = memory / group_name(process)
            group.mkdir(exist_ok=True)
            (group / "memory.limit_in_bytes").write_text(str(limits.memory))
            swap = group / "memory.memsw.limit_in_bytes"
            if swap.exists():  # no escape into swap either (only where swap accounting is on)
                try:
                    swap.write_text(str(limits.memory))
                except OSError:
                    pass
            groups.append(group)
    if limits.processes is not None:
        pids = usable("pids", root)
        if pids is not None:
            group = pids / group_name(process)
            group.mkdir(exist_ok=True)
            (group / "pids.max").write_text(str(limits.processes))
            groups.append(group)
            pids_enforced = True
    return CgroupSetup(tuple(groups), pids_enforced, tuple(warnings))


def join(groups: tuple[Path, ...]) -> None:
    """Move the calling process (and so everything it forks) into ``groups``."""
    for group in groups:
        (group / "cgroup.procs").write_text(str(os.getpid()))


def remove(process: BpmProcess, root: Path = CGROUP_ROOT) -> None:
    for controller in ("memory", "pids"):
        group = root / controller / group_name(process)
        try:
            group.rmdir()
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY, errno.EROFS, errno.EACCES):
                raise

