"""The few Linux calls Python 3.11's standard library lacks, through ctypes: mount(2),
umount2(2), pivot_root(2), unshare(2), prctl(2), capset(2).

The agent bundle runs on the stemcell's python3 with the standard library only; forking
``mount`` a dozen times per container start would only add latency."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
SYS_PIVOT_ROOT = 155  # x86_64
SYS_CAPSET = 126
CAP_VERSION_3 = 0x20080522
# statvfs f_flag bits -> mount flags: a bind remount inside a user namespace must keep the
# flags the original mount was locked with, or the kernel refuses it.
ST_TO_MS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME,
            2048: MS_NODIRATIME, 4096: MS_RELATIME}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _b(value: str | os.PathLike | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | os.PathLike | None, target: str | os.PathLike, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {source} on {target}")


def mount_flags(path: str | os.PathLike) -> int:
    """The mount flags the mount holding ``path`` has now."""
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in ST_TO_MS.items() if f_flag & st)


def umount(target: str | os.PathLike, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def prctl(option: int, arg2: int = 0, what: str = "prctl") -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), f"{what}")


def drop_bounding(capability: int) -> None:
    """Remove ``capability`` from the bounding set (EINVAL: the kernel does not know it)."""
    if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(capability), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        if errno != 22:
            raise OSError(errno, f"prctl(PR_CAPBSET_DROP, {capability}): {os.strerror(errno)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capset(capabilities: list[int]) -> None:
    """Set effective, permitted and inheritable to exactly ``capabilities``."""
    mask = sum(1 << c for c in capabilities)
    header = _CapHeader(CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = word
    _check(_libc.syscall(SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)), "capset")


def raise_ambient(capability: int) -> None:
    _check(_libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_RAISE), ctypes.c_ulong(capability),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl(PR_CAP_AMBIENT_RAISE, {capability})")
