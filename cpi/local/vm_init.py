"""The VM's PID 1 until it execs the guest: the last steps of a boot, inside the VM.

Forked by ``vm_launch`` as root of the VM's user namespace, in the VM's new mount, PID,
network, UTS and IPC namespaces, with the root file system assembled below ``new_root``
(``vm_root``). It mounts what belongs to the VM's own namespaces: /proc (its PID
namespace), /sys read-only (its network namespace; with delegated cgroups, the VM's cgroup
subtrees writable at /sys/fs/cgroup/{memory,pids}), a /dev of bound host devices (a user
namespace cannot mknod), tmpfs on /run and /tmp; then pivot_root, drops what no VM keeps
from the bounding set (``capabilities``) and execs the stemcell's python3 running
``guest_init``. From then on the VM runs only its own files. Everything here dies with
the namespaces, so power-off leaves no host mount behind.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from cpi.local import capabilities, guest_init, syscalls
from cpi.local.state import VmState

GUEST_INIT = "/run/bosh-py/init.py"
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def make_dev(dev: Path) -> None:
    """A tmpfs with the harmless host devices bound in (a VM cannot mknod, by design)."""
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        (dev / name).touch(mode=0o666)
        syscalls.mount(f"/dev/{name}", dev / name, None, syscalls.MS_BIND)
    for name, target in {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
                         "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
                         "ptmx": "pts/ptmx"}.items():
        os.symlink(target, dev / name)
    (dev / "pts").mkdir()
    syscalls.mount("devpts", dev / "pts", "devpts", syscalls.MS_NOSUID | syscalls.MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=620,gid=5")
    (dev / "shm").mkdir()
    syscalls.mount("tmpfs", dev / "shm", "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=1777")


def delegate_cgroups(target: Path, groups: dict[str, str]) -> None:
    """cloud_properties.cgroups: a small tmpfs over sysfs's (read-only, empty) cgroup
    directory, with each delegated host group (owned by the VM's root) bound at
    <target>/<controller>."""
    syscalls.mount("tmpfs", target, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC,
                   "mode=755,size=16k")
    for controller, group in sorted(groups.items()):
        (target / controller).mkdir()
        syscalls.mount(group, target / controller, None, syscalls.MS_BIND)


def build_root(state: VmState, new_root: Path) -> None:
    """Mount the VM's own file systems below ``new_root`` (relative to the working directory)."""
    hidden = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    syscalls.mount("proc", new_root / "proc", "proc", hidden)
    syscalls.mount("sysfs", new_root / "sys", "sysfs", hidden | syscalls.MS_RDONLY)
    if state.delegated_cgroups:
        delegate_cgroups(new_root / "sys/fs/cgroup", state.delegated_cgroups)
    make_dev(new_root / "dev")
    syscalls.mount("tmpfs", new_root / "run", "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=755")
    syscalls.mount("tmpfs", new_root / "tmp", "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=1777")


def enter_root() -> None:
    """pivot_root(".", ".") into the working directory, then detach the old root: the
    host's tree is gone from view."""
    syscalls.pivot_root(".", ".")
    syscalls.umount(".", syscalls.MNT_DETACH)
    os.chdir("/")


def disable_ipv6() -> None:
    """IPv4 on the bridge is the VM's only network; no IPv6 autoconfiguration chatter."""
    for scope in ("all", "default"):
        try:
            Path(f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6").write_text("1")
        except OSError:
            pass


def enter_assembled_root() -> None:
    """The working directory is the root ``vm_root`` assembled (the path to it is host
    root's alone). A clone of it made here is this namespace's own mount, which pivot_root
    accepts (mounts made by host root are locked in a user namespace)."""
    fd = syscalls.clone_onto_cwd()
    os.fchdir(fd)
    os.close(fd)


def main(state: VmState, guest_source: str) -> None:
    """Never returns: ends in exec of the guest's init (or raises)."""
    syscalls.die_with_parent(signal.SIGKILL)
    socket.sethostname(state.cid)
    disable_ipv6()
    enter_assembled_root()
    build_root(state, Path("."))
    enter_root()
    os.makedirs(os.path.dirname(GUEST_INIT), exist_ok=True)
    Path(GUEST_INIT).write_text(guest_source)
    capabilities.drop_from_bounding_set()
    os.execve("/usr/bin/python3", ["/usr/bin/python3", GUEST_INIT], guest_init.ENV)
