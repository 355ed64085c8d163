"""Assemble a bpm container's root file system and enter it (runs as the container's PID 1,
already in its own mount and PID namespaces, still seeing the VM's tree).

A small tmpfs becomes the root; the stemcell's system directories and the plan's paths are
bound into it, each read-only unless the plan says writable; /dev holds only harmless
devices; /proc is the container's own PID namespace (mounted before the VM's tree is
detached: a user namespace may mount proc only while a full proc is visible). Then the
root is made read-only and pivot_root leaves the VM's tree behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from bosh_py.agent.bpm import syscalls as sc
from bosh_py.agent.bpm.layout import SYSTEM_DIRS, Plan

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def _inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def bind(source: str, target: Path, writable: bool, executable: bool) -> None:
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
    flags = sc.mount_flags(target) | sc.MS_NOSUID
    if not writable:
        flags |= sc.MS_RDONLY
    if not executable:
        flags |= sc.MS_NOEXEC
    sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_BIND | flags)


def make_dev(dev: Path) -> None:
    dev.mkdir(parents=True, exist_ok=True)
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            (dev / name).touch(mode=0o666)
            sc.mount(f"/dev/{name}", dev / name, None, sc.MS_BIND)
    for name, target in {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
                         "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}.items():
        os.symlink(target, dev / name)
    (dev / "shm").mkdir()
    sc.mount("tmpfs", dev / "shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=1777,size=64m")


def build_root(plan: Plan, root: Path) -> None:
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)  # nothing we mount leaks to the VM
    root.mkdir(parents=True, exist_ok=True)
    sc.mount("tmpfs", root, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "mode=755,size=1m")
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            os.symlink(os.readlink(path), _inside(root, path))
        elif os.path.isdir(path):
            bind(path, _inside(root, path), writable=False, executable=True)
    for mount in plan.mounts:
        bind(mount.host_path, _inside(root, mount.path), mount.writable, mount.executable)
    make_dev(root / "dev")
    (root / "proc").mkdir()
    sc.mount("proc", root / "proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    sc.mount(None, root, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)


def enter_root(root: Path) -> None:
    """pivot_root(".", ".") then detach the old root: the VM's tree is gone from view."""
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount(".", sc.MNT_DETACH)
    os.chdir("/")
