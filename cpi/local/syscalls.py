"""mount(2), umount2(2), pivot_root(2), unshare(2) and prctl(2) through ctypes.

Python 3.11 has no wrappers for these. The VM's boot code runs them in fresh namespaces,
before the VM's own root exists, where forking ``mount`` for each of a dozen mounts would
only add latency.
"""

from __future__ import annotations

import ctypes
import os

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2
SYS_PIVOT_ROOT = 155  # x86_64
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
SYS_OPEN_TREE = 428  # x86_64, as the rest
SYS_MOVE_MOUNT = 429
AT_FDCWD = -100
OPEN_TREE_CLONE = 1
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 4

PR_SET_NAME = 15


def _load_libc() -> ctypes.CDLL:
    """glibc by its soname; ``find_library`` (which runs ``ldconfig -p``, measured at about
    0.03 CPU-seconds, in every CPI call and keeper) only where that name is missing."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library
        return ctypes.CDLL(find_library("c"), use_errno=True)


_libc = _load_libc()


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _b(value: str | os.PathLike | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str | os.PathLike, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {source} on {target}")


def umount(target: str | os.PathLike, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def die_with_parent(signum: int) -> None:
    """PR_SET_PDEATHSIG: ``signum`` when the parent exits (as ``unshare --kill-child``)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def set_name(name: bytes) -> None:
    """PR_SET_NAME: what ``ps`` and /proc/<pid>/comm show (up to 15 bytes)."""
    _check(_libc.prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0), "prctl(PR_SET_NAME)")


def drop_bounding_capability(capability: int) -> bool:
    """Remove ``capability`` from the bounding set; False if the kernel does not know it."""
    if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(capability), 0, 0, 0) == 0:
        return True
    errno = ctypes.get_errno()
    if errno == 22:  # EINVAL: a capability newer than this kernel
        return False
    raise OSError(errno, f"prctl(PR_CAPBSET_DROP, {capability}): {os.strerror(errno)}")


def clone_onto_cwd() -> int:
    """Clone the mount tree at the working directory (open_tree(2)), attach the clone on
    top of it (move_mount(2)) and return a descriptor of the clone's root.

    In a user namespace this makes mounts of the namespace's own out of ones inherited from
    a more privileged namespace (those are locked; pivot_root refuses them), reached by
    descriptor when the path to them cannot be looked up.
    """
    fd = _libc.syscall(SYS_OPEN_TREE, AT_FDCWD, b".", OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC)
    if fd < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"open_tree: {os.strerror(errno)}")
    try:
        _check(_libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, b".", MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
    except OSError:
        os.close(fd)
        raise
    return fd
