"""tar.gz in and out, safely.

Extraction never writes outside its destination: no absolute names, no ``..``, no
writing through a symlink that leads out, no hard links to outside files, no device
nodes; files become root-owned and lose setuid/setgid (an archive from the blobstore is
data, not a way to plant privileged files). Symlinks themselves may point anywhere, since
compiled packages legitimately link to ``/var/vcap/packages/...``.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Callable, Iterable

from bosh_py.agent.errors import AgentActionError


def _inside(base: str, path: str) -> bool:
    return path == base or path.startswith(base + os.sep)


def _strip_dot(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def safe_extract(archive: Path, dest: Path) -> None:
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    base = os.path.realpath(dest)
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise AgentActionError(f"Cannot open archive {Path(archive).name}: {e}") from None
    with tar:
        for member in tar:
            name = _strip_dot(member.name)
            if name in ("", "."):
                continue
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts:
                raise AgentActionError(f"Archive entry {member.name!r} escapes the target directory")
            target = os.path.join(base, *parts)
            parent = os.path.realpath(os.path.dirname(target))
            if not _inside(base, parent):
                raise AgentActionError(f"Archive entry {member.name!r} escapes the target directory")
            if member.islnk():
                link = os.path.realpath(os.path.join(base, _strip_dot(member.linkname)))
                if member.linkname.startswith("/") or not _inside(base, link):
                    raise AgentActionError(f"Archive hard link {member.name!r} points outside")
            if member.ischr() or member.isblk() or member.isfifo():
                continue
            member.name = name
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            member.mode &= 0o1777
            if member.isdir():
                member.mode |= 0o700
            if os.path.lexists(target) and not member.isdir() and os.path.isdir(target) \
                    and not os.path.islink(target):
                raise AgentActionError(f"Archive entry {member.name!r} replaces a directory")
            if member.issym() and os.path.lexists(target):
                os.unlink(target)
            try:
                tar.extract(member, base, set_attrs=True, numeric_owner=True)
            except (tarfile.TarError, OSError) as e:
                raise AgentActionError(f"Extracting {member.name!r} failed: {e}") from None


def make_tgz(out: Path, entries: Iterable[tuple[Path, str]],
             include: Callable[[str], bool] | None = None) -> Path:
    """Pack ``(source_dir, prefix)`` pairs; each file goes in as ``prefix/relative``
    (``prefix`` "" puts them at the top). ``include`` filters relative names."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        for src, prefix in entries:
            src = Path(src)
            if not src.exists():
                continue
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                rel_dir = os.path.relpath(dirpath, src)
                names = sorted(filenames) + [d for d in dirnames
                                             if os.path.islink(os.path.join(dirpath, d))]
                if rel_dir != "." and not names and not dirnames:
                    arc = _arcname(prefix, rel_dir)
                    if include is None or include(rel_dir):
                        tar.add(dirpath, arcname=arc, recursive=False)
                for fname in names:
                    rel = os.path.normpath(os.path.join(rel_dir, fname))
                    if include is not None and not include(rel):
                        continue
                    full = os.path.join(dirpath, fname)
                    if not (os.path.isfile(full) or os.path.islink(full)):
                        continue  # sockets, fifos
                    tar.add(full, arcname=_arcname(prefix, rel), recursive=False)
    return out


def _arcname(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel
