"""The VM's boot, run as PID 1 of its new PID, mount and UTS namespaces (inside its netns).

``keeper`` starts ``nsenter --net=<netns> unshare --pid --fork --mount --uts
--propagation slave python -m cpi.local.vm_init <vm dir>``. This module then builds the
VM's root: overlay (stemcell below, the VM's upper dir above), /proc, /sys (read-only;
with delegated cgroups, its VM's cgroup subtrees writable at /sys/fs/cgroup/{memory,pids}), a small /dev, tmpfs on /run and /tmp, the host's shared disks directory at
/var/vcap/bosh/disks (a slave, so disks attached later appear), then pivot_root into it and
exec the stemcell's python3 running ``guest_init``: from then on the VM runs only its own
files. Everything here dies with the namespace, so power-off leaves no host mount behind.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from pathlib import Path

from cpi.local import guest_init, syscalls
from cpi.local.processes import ProcessRef
from cpi.local.state import VmState

GUEST_INIT = "/run/bosh-py/init.py"
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
           "urandom": (1, 9), "tty": (5, 0)}


def record_host_pid(vm_dir: Path) -> None:
    """/proc is still the host's here, so /proc/self names our host-side PID for the CPI."""
    host_pid = int(os.readlink("/proc/self"))
    ref = ProcessRef.of(host_pid)
    if ref:
        ref.write(vm_dir / "init.pid")


def mount_overlay(state: VmState, vm_dir: Path, new_root: Path) -> None:
    options = f"lowerdir={state.lower},upperdir={vm_dir / 'upper'},workdir={vm_dir / 'work'}"
    for attempt in range(50):  # the previous boot's overlay may still be going away
        try:
            syscalls.mount("overlay", new_root, "overlay", 0, options)
            return
        except OSError:
            if attempt == 49:
                raise
            time.sleep(0.1)


def make_dev(dev: Path) -> None:
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID, "mode=755,size=64k")
    old_umask = os.umask(0)
    try:
        for name, (major, minor) in DEVICES.items():
            os.mknod(dev / name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    finally:
        os.umask(old_umask)
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
    directory, with each delegated host group bound writable at <target>/<controller>."""
    syscalls.mount("tmpfs", target, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC,
                   "mode=755,size=16k")
    for controller, group in sorted(groups.items()):
        (target / controller).mkdir()
        syscalls.mount(group, target / controller, None, syscalls.MS_BIND)


def build_root(state: VmState, vm_dir: Path, new_root: Path) -> None:
    mount_overlay(state, vm_dir, new_root)
    hidden = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    syscalls.mount("proc", new_root / "proc", "proc", hidden)
    syscalls.mount("sysfs", new_root / "sys", "sysfs", hidden | syscalls.MS_RDONLY)
    if state.delegated_cgroups:
        delegate_cgroups(new_root / "sys/fs/cgroup", state.delegated_cgroups)
    make_dev(new_root / "dev")
    syscalls.mount("tmpfs", new_root / "run", "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=755")
    syscalls.mount("tmpfs", new_root / "tmp", "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=1777")
    disks = new_root / "var/vcap/bosh/disks"
    disks.mkdir(parents=True, exist_ok=True)
    syscalls.mount(str(vm_dir / "disks"), disks, None, syscalls.MS_BIND | syscalls.MS_REC)


def enter_root(new_root: Path) -> None:
    """pivot_root(".", ".") then detach the old root: the host's tree is gone from view."""
    os.chdir(new_root)
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


def main(vm_dir_arg: str) -> None:
    vm_dir = Path(vm_dir_arg)
    state = VmState.load(vm_dir)
    record_host_pid(vm_dir)
    init_source = Path(guest_init.__file__).read_text()
    socket.sethostname(state.cid)
    disable_ipv6()
    build_root(state, vm_dir, vm_dir / "rootfs")
    enter_root(vm_dir / "rootfs")
    os.makedirs(os.path.dirname(GUEST_INIT), exist_ok=True)
    Path(GUEST_INIT).write_text(init_source)
    os.execve("/usr/bin/python3", ["/usr/bin/python3", GUEST_INIT], guest_init.ENV)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except BaseException as error:  # reported on the console the CPI shows on failure
        print(f"bosh-py vm_init: boot failed: {error!r}", file=sys.stderr, flush=True)
        raise
