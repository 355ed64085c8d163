"""The VM's root file system, assembled with host privileges before its user namespace exists.

Runs in the keeper's child (see ``vm_launch``), in a mount namespace of its own that is a
slave of the host's, so nothing mounted here shows on the host:

- overlay: the stemcell below, the VM's ``upper`` above, mounted at ``<vm>/rootfs``. The
  layers are given as paths relative to ``<vm>`` (the stemcell bound at ``<vm>/lower``), so
  the VM's /proc/self/mountinfo reads ``lowerdir=lower,upperdir=upper,workdir=work`` and
  names no host path.
- the VM's shared disks directory at /var/vcap/bosh/disks (a slave, so disks attached later
  appear).

Why with host privilege: the CPI's directories are 0700 and owned by host root, which the
VM's root (an unprivileged host uid) cannot even look up; an overlay mounted by host root
reaches its layers with the mounter's credentials.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cpi.local import syscalls
from cpi.local.ids import IdRange
from cpi.local.state import VmState

DISKS = Path("var/vcap/bosh/disks")


def assemble(state: VmState, vm_dir: Path, ids: IdRange) -> Path:
    """Mount the VM's root at ``<vm>/rootfs`` in a new private mount namespace; return it."""
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE)
    lower = vm_dir / "lower"
    lower.mkdir(mode=0o700, exist_ok=True)   # VMs made before this layout lack it
    syscalls.mount(state.lower, lower, None, syscalls.MS_BIND)
    new_root = vm_dir / "rootfs"
    mount_overlay(vm_dir, new_root)
    disks = make_owned_dirs(new_root, DISKS, ids)
    syscalls.mount(str(vm_dir / "disks"), disks, None, syscalls.MS_BIND | syscalls.MS_REC)
    return new_root


def mount_overlay(vm_dir: Path, new_root: Path) -> None:
    os.chdir(vm_dir)  # the layer options are relative to it
    for attempt in range(50):  # the previous boot's overlay may still be going away
        try:
            syscalls.mount("overlay", new_root, "overlay", 0, "lowerdir=lower,upperdir=upper,workdir=work")
            break
        except OSError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    os.chdir("/")


def make_owned_dirs(root: Path, relative: Path, ids: IdRange) -> Path:
    """mkdir -p below ``root``; each directory made here belongs to the VM's root."""
    path = root
    for part in relative.parts:
        path = path / part
        if not path.is_dir():
            path.mkdir(mode=0o755)
            ids.own(path)
    return path
