"""Host-side mounts: the per-VM shared disks directory and the disk bind mounts in it.

``<vm>/disks`` is a small tmpfs owned by the VM's root, made shared before the VM boots;
the VM binds it (recursively, as a slave) at /var/vcap/bosh/disks. A disk attached later is
a bind mount under ``<vm>/disks`` on the host, and propagation makes it appear inside the
running VM. A tmpfs rather than a bind of the directory onto itself: a bind would show the
CPI's host path in the VM's /proc/self/mountinfo.
"""

from __future__ import annotations

from pathlib import Path

from cpi.local import syscalls
from cpi.local.errors import CloudError
from cpi.local.ids import IdRange


def mountpoints_under(path: Path) -> list[str]:
    """Host mount points at or below ``path``, deepest first (the order to unmount them)."""
    base = str(path)
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target == base or target.startswith(base + "/"):
            found.append(target)
    return sorted(set(found), key=lambda t: (t.count("/"), t), reverse=True)


def is_mountpoint(path: Path) -> bool:
    return str(path) in mountpoints_under(path)


def make_disks_dir(path: Path, ids: IdRange) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not is_mountpoint(path):
        syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC,
                       f"mode=700,uid={ids.root},gid={ids.root},size=64k")
    syscalls.mount(None, path, None, syscalls.MS_SHARED)


def bind(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if not is_mountpoint(target):
        syscalls.mount(str(source), target, None, syscalls.MS_BIND)


def unmount_all_under(path: Path) -> None:
    """Unmount everything at or below ``path``; raise if anything stays mounted."""
    for target in mountpoints_under(path):
        try:
            syscalls.umount(target)
        except OSError:
            try:
                syscalls.umount(target, syscalls.MNT_DETACH)
            except OSError:
                pass
    left = mountpoints_under(path)
    if left:
        raise CloudError(f"still mounted after unmount: {', '.join(left)}")
