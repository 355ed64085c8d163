"""Which cgroup layout the DEA sees at its ``cgroup_root``, from /proc/self/mountinfo and
/proc/self/cgroup.

Parsing is pure (text in, plain data out) so every layout is a table of cases; only
``read`` touches /proc. For a cgroup root R (default /sys/fs/cgroup):

- ``v1``: one hierarchy per controller at R/<controller>. Debian 11, a host booted with
  systemd.unified_cgroup_hierarchy=0, and a local-CPI DEA VM with ``cgroups: true`` (its
  delegated groups bound on a tmpfs at R/memory and R/pids).
- ``hybrid``: the same plus a controller-less cgroup2 at R/unified (systemd's hybrid
  mode). The controllers are v1's, so the DEA runs it exactly as v1.
- ``v2``: R is in a cgroup2 file system (Debian 12's default): one tree, controllers
  handed down through each group's cgroup.subtree_control.
- ``none``: no cgroup file system at R (a local-CPI VM without ``cgroups: true``).

A malformed line is an error naming the file and the line: the DEA must not guess where
its limits go.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

V1, HYBRID, V2, NONE = "v1", "hybrid", "v2", "none"
MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"


class CgroupLayoutError(Exception):
    """/proc/self/mountinfo or /proc/self/cgroup could not be read or did not parse."""


@dataclass(frozen=True)
class Mount:
    point: str               # where it is mounted
    root: str                # which directory of its file system is mounted there
    fstype: str
    options: frozenset[str]  # the super block's options (a v1 hierarchy lists its controllers)


@dataclass(frozen=True)
class Layout:
    kind: str                                  # V1, HYBRID, V2 or NONE
    root: Path
    unified: Mount | None = None               # v2: the cgroup2 holding root; hybrid: the one below it
    v1_points: dict[str, str] = field(default_factory=dict)   # controller -> v1 mount point (any)
    own: str | None = None                     # this process's group in the unified tree (``0::``)

    def own_dir(self) -> Path | None:
        """This process's unified group as a directory under ``unified`` (None when not visible)."""
        if self.unified is None or self.own is None:
            return None
        base = self.unified.root
        if not _within(self.own, base):
            return None
        return Path(self.unified.point) / posixpath.relpath(self.own, base)


def _within(path: str, directory: str) -> bool:
    return directory == "/" or path == directory or path.startswith(directory.rstrip("/") + "/")


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str, source: str = MOUNTINFO) -> list[Mount]:
    """Every mount, in mount order (fields: id parent major:minor root point options
    [optional...] - fstype source super-options)."""
    mounts = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        before, separator, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if (not separator or len(fields) < 6 or len(tail) < 2 or not fields[0].isdigit()
                or ":" not in fields[2] or not fields[4].startswith("/")):
            raise CgroupLayoutError(
                f"{source} line {number}: expected 'id parent major:minor root mount-point options ... "
                f"- fstype source options', got {line!r}")
        options = frozenset(tail[2].split(",")) if len(tail) > 2 else frozenset()
        mounts.append(Mount(_unescape(fields[4]), _unescape(fields[3]), tail[0], options))
    return mounts


def parse_proc_cgroup(text: str, source: str = PROC_CGROUP) -> tuple[dict[str, str], str | None]:
    """({v1 controller: group}, the unified group or None), from ``id:controllers:path`` lines."""
    v1: dict[str, str] = {}
    unified = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        hierarchy, first, rest = line.partition(":")
        controllers, second, path = rest.partition(":")
        if not (first and second and hierarchy.isdigit() and path.startswith("/")):
            raise CgroupLayoutError(f"{source} line {number}: expected 'hierarchy-id:controllers:/path', "
                                    f"got {line!r}")
        if hierarchy == "0" and not controllers:
            unified = path
        else:
            for controller in controllers.split(","):
                v1[controller] = path
    return v1, unified


def detect(root: Path, mountinfo: str, proc_cgroup: str, sources: tuple[str, str] = (MOUNTINFO, PROC_CGROUP)
           ) -> Layout:
    """The layout at ``root`` given the two files' text (``sources``: their names, for errors)."""
    mounts = parse_mountinfo(mountinfo, sources[0])
    _v1_groups, own = parse_proc_cgroup(proc_cgroup, sources[1])
    where = posixpath.normpath(str(root))
    v1_points = {controller: m.point for m in mounts if m.fstype == "cgroup"
                 for controller in m.options if controller in ("memory", "pids", "cpu")}
    holding = None  # the file system root is in: the longest mount point above it, the last on top
    for mount in mounts:
        if _within(where, mount.point) and (holding is None or len(mount.point) >= len(holding.point)):
            holding = mount
    if holding is not None and holding.fstype == "cgroup2":
        return Layout(V2, root, holding, v1_points, own)
    below = [m for m in mounts if m.point != where and _within(m.point, where)]
    if not any(m.fstype == "cgroup" for m in below):
        return Layout(NONE, root, None, v1_points, own)
    unified = next((m for m in reversed(below) if m.fstype == "cgroup2"), None)
    return Layout(HYBRID if unified else V1, root, unified, v1_points, own)


def read(root: Path, proc: Path = Path("/proc/self")) -> Layout:
    """The layout this process sees at ``root`` (``proc``: where mountinfo and cgroup are)."""
    paths = (proc / "mountinfo", proc / "cgroup")
    texts = []
    for path in paths:
        try:
            texts.append(path.read_text())
        except OSError as error:
            raise CgroupLayoutError(f"cannot read {path}: {error.strerror or error}") from None
    return detect(root, texts[0], texts[1], (str(paths[0]), str(paths[1])))
