"""Unpacking untrusted archives safely, and packing droplets.

App bits (zip) come from users, droplets (tar.gz) from whichever DEA staged them: every
entry must land inside the target directory (no absolute paths, no ``..``, no symlink
pointing out, no device files), and the unpacked size is capped so a zip bomb fails
instead of filling the disk.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import time
import zipfile
from pathlib import Path


class UnsafeArchive(Exception):
    pass


def _safe_name(name: str) -> str | None:
    """The entry's normalised relative path, None for the root itself; raise if unsafe."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"absolute path in archive: {name!r}")
    normal = posixpath.normpath(name)
    if normal in (".", ""):
        return None
    if normal == ".." or normal.startswith("../"):
        raise UnsafeArchive(f"path escapes the archive root: {name!r}")
    return normal


def _symlink_ok(link_path: str, target: str) -> bool:
    if target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    return resolved != ".." and not resolved.startswith("../")


def _check_parents(root: Path, relative: str) -> Path:
    """Refuse to write through a symlink made by an earlier entry."""
    path = root
    for part in Path(relative).parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise UnsafeArchive(f"entry {relative!r} goes through the symlink {part!r}")
    return root / relative


def unzip(archive: Path, target: Path, max_bytes: int) -> int:
    """Extract a zip into ``target``; return the number of files. Modes keep only rwx bits."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    count = 0
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise UnsafeArchive(f"not a zip file: {error}") from None
    with zf:
        for info in zf.infolist():
            name = _safe_name(info.filename)
            if name is None:
                continue
            mode = (info.external_attr >> 16) & 0xFFFF
            path = _check_parents(target, name)
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8", "replace")
                if not _symlink_ok(name, link):
                    raise UnsafeArchive(f"symlink {name!r} points outside the app: {link!r}")
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or path.exists():
                    path.unlink()
                os.symlink(link, path)
                continue
            total += info.file_size
            if total > max_bytes:
                raise UnsafeArchive(f"unpacked app is larger than {max_bytes} bytes")
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()
            written = 0
            with zf.open(info) as src, open(path, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > info.file_size:  # the header lied about the size
                        raise UnsafeArchive(f"{name!r} is larger than its header says")
                    out.write(chunk)
            os.chmod(path, ((mode & 0o777) | 0o600) if mode & 0o777 else 0o644)
            count += 1
    return count


def untar(archive: Path, target: Path, max_bytes: int, only: str | None = None) -> int:
    """Extract a tar(.gz) into ``target``. With ``only="app"``, just that top-level directory's
    contents (stripped of the prefix). Regular files, directories and contained symlinks only."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    count = 0
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.TarError as error:
        raise UnsafeArchive(f"not a tar archive: {error}") from None
    with tar:
        for member in tar:
            name = _safe_name(member.name)
            if name is None:
                continue
            if only is not None:
                if name == only:
                    continue
                if not name.startswith(only + "/"):
                    continue
                name = name[len(only) + 1:]
            path = _check_parents(target, name)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                os.chmod(path, (member.mode & 0o777) | 0o700)
            elif member.issym():
                if not _symlink_ok(name, member.linkname):
                    raise UnsafeArchive(f"symlink {name!r} points outside: {member.linkname!r}")
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or path.exists():
                    path.unlink()
                os.symlink(member.linkname, path)
            elif member.isfile():
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchive(f"unpacked droplet is larger than {max_bytes} bytes")
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink():
                    path.unlink()
                src = tar.extractfile(member)
                assert src is not None
                with src, open(path, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                os.chmod(path, (member.mode & 0o777) | 0o600)
            else:
                raise UnsafeArchive(f"unsupported entry type for {member.name!r}")
            count += 1
    return count


def read_member(archive: Path, name: str, max_bytes: int = 1 << 20) -> bytes | None:
    """One small file from a tar(.gz), or None when absent."""
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if _safe_name(member.name) == name and member.isfile() and member.size <= max_bytes:
                src = tar.extractfile(member)
                return src.read() if src else None
    return None


def pack_droplet(app_dir: Path, extra: dict[str, bytes], target: Path) -> None:
    """tar.gz with ``app/`` (the staged app) and the ``extra`` top-level files; owners are
    normalised to root so the droplet is the same whoever staged it."""
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isfile() or info.isdir() or info.issym()):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(target, "w:gz") as tar:
        tar.add(str(app_dir), arcname="app", filter=clean)
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
