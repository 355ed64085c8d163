"""Mount the persistent disk at /var/vcap/store.

The hint from the CPI is where the disk shows up inside the VM: a directory on the local
CPI (bind-mounted), or a block device on a cloud (formatted ext4 on first use, then
mounted). mount(2) goes through ctypes so the agent needs no util-linux for the common
case; formatting needs mkfs.ext4, which the stemcell has.

``BOSH_PY_AGENT_DISK_MODE=link`` (set by the dummy CPI, cpi/dummy, whose agents run as plain
host processes): a directory disk is "mounted" by making /var/vcap/store a symbolic link to
it, so no mount(2) and no root are needed and nothing is left mounted on the host."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
import subprocess
from pathlib import Path

from bosh_py.agent.errors import AgentActionError

DISK_MODE_ENV = "BOSH_PY_AGENT_DISK_MODE"
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise AgentActionError(f"{what} failed: {os.strerror(err)}")


def is_mounted(path: Path) -> bool:
    """From mountinfo, not os.path.ismount: a bind mount from the same filesystem has the
    same device as its parent, which ismount cannot see."""
    if os.path.islink(path):  # link mode (DISK_MODE_ENV)
        return True
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(_unescape(line.split()[4]) == target for line in f)
    except OSError:
        return os.path.ismount(path)


def mount_source(path: Path) -> str | None:
    """What is mounted at ``path`` (device or bind source root), from mountinfo."""
    target = os.path.realpath(path)
    found = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if _unescape(fields[4]) == target:
                    sep = fields.index("-")
                    found = f"{fields[sep + 2]}:{_unescape(fields[3])}"
    except OSError:
        return None
    return found


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _link_mode() -> bool:
    return os.environ.get(DISK_MODE_ENV) == "link"


def mount_disk(source: Path, target: Path) -> None:
    if _link_mode() and os.path.isdir(source):
        try:
            if target.is_dir() and not target.is_symlink():
                target.rmdir()  # the empty mount point; a non-empty one would hide files, as mount would
            target.symlink_to(source)
        except OSError as e:
            raise AgentActionError(f"linking {target} to disk {source} failed: {e.strerror}") from None
        return
    target.mkdir(parents=True, exist_ok=True)
    try:
        st = os.stat(source)
    except OSError as e:
        raise AgentActionError(f"Disk not found at {source}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        _check(_libc.mount(str(source).encode(), str(target).encode(), None, MS_BIND, None),
               f"bind-mounting {source} at {target}")
    elif stat.S_ISBLK(st.st_mode):
        _ensure_filesystem(source)
        proc = subprocess.run(["mount", str(source), str(target)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise AgentActionError(f"mounting {source} at {target} failed: {proc.stderr.strip()}")
    else:
        raise AgentActionError(f"Disk hint {source} is neither a directory nor a block device")


def _ensure_filesystem(device: Path) -> None:
    probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", str(device)],
                           capture_output=True, text=True)
    if probe.returncode == 0 and probe.stdout.strip():
        return
    proc = subprocess.run(["mkfs.ext4", "-q", "-F", str(device)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AgentActionError(f"formatting {device} failed: {proc.stderr.strip()}")


def unmount(target: Path) -> None:
    if target.is_symlink():  # link mode: back to an empty mount point
        target.unlink()
        target.mkdir()
        return
    if not is_mounted(target):
        return
    rc = _libc.umount2(str(target).encode(), 0)
    if rc != 0 and ctypes.get_errno() == 16:  # EBUSY: say who should be stopped first
        raise AgentActionError(f"{target} is busy (stop the jobs using the persistent disk first)")
    _check(rc, f"unmounting {target}")
