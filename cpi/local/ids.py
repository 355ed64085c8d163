"""The host uid/gid range a VM's users map to, and files owned accordingly.

Every VM runs in its own user namespace whose ids 0..65535 are host ids
``base..base+65535`` (``id_base`` in the CPI config, default 1000000, like LXD's default
range). All VMs of a CPI share the range: the stemcell's root filesystem is one read-only
lower layer under every VM, so its files can have only one owner on the host. VM root is
therefore an unprivileged host user (``base``) that owns nothing outside the CPI's own
0700 root directory.

Files a VM must own (the stemcell, its upper layer, persistent disk data) are "shifted":
host uid ``u`` in ``[old, old+65536)`` becomes ``new + (u - old)``. Each of them records the
base it was shifted to, so a CPI root made before user namespaces (base 0) or with another
``id_base`` is shifted once, the first time a VM uses it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

COUNT = 65536
UNSHIFTED = 0   # what files made before VMs had user namespaces are owned by


@dataclass(frozen=True)
class IdRange:
    base: int
    count: int = COUNT

    @property
    def root(self) -> int:
        """The host uid (and gid) of a VM's root."""
        return self.base

    def map_line(self) -> str:
        """/proc/<pid>/{uid,gid}_map content: VM ids 0.. are host ids base.."""
        return f"0 {self.base} {self.count}\n"

    def own(self, path: Path, uid: int = 0, gid: int = 0) -> None:
        """chown ``path`` (not following links) to the VM's ``uid``/``gid``."""
        os.lchown(path, self.base + uid, self.base + gid)


def write_maps(pid: int, ids: IdRange) -> None:
    """Give the user namespace of ``pid`` its mapping (needs host root: any range, and
    setgroups stays allowed, so the VM's root can set its processes' groups)."""
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as stream:
            stream.write(ids.map_line())


def shift_tree(root: Path, old_base: int, new: IdRange) -> None:
    """Re-own everything below ``root`` from ``old_base``'s range to ``new``'s.

    Device nodes are removed: a VM's /dev is its own, and a host device owned by the VM's
    range would only be a way in. chown clears setuid/setgid bits, so the mode is put back.
    """
    if old_base == new.base:
        return
    for directory, names, files in os.walk(root):
        for name in [*names, *files]:
            _shift(Path(directory, name), old_base, new)
    _shift(root, old_base, new)


def _shift(path: Path, old_base: int, new: IdRange) -> None:
    info = os.lstat(path)
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        path.unlink()
        return
    uid = _moved(info.st_uid, old_base, new)
    gid = _moved(info.st_gid, old_base, new)
    if (uid, gid) == (info.st_uid, info.st_gid):
        return
    os.lchown(path, uid, gid)
    if not stat.S_ISLNK(info.st_mode) and info.st_mode & (stat.S_ISUID | stat.S_ISGID):
        os.chmod(path, stat.S_IMODE(info.st_mode))


def _moved(host_id: int, old_base: int, new: IdRange) -> int:
    offset = host_id - old_base
    return new.base + offset if 0 <= offset < new.count else host_id
