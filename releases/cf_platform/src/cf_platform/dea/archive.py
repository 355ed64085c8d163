"""Unpacking untrusted archives safely, and packing droplets.

App bits (zip) come from users, droplets (tar.gz) from whichever DEA staged them: every
entry must land inside the target directory (no absolute paths, no ``..``, no symlink
pointing out, no device files), and the unpacked size is capped so a zip bomb fails
instead of filling the disk.

"Inside" is decided on the real filesystem, never lexically: a chain of relative links
(``a/…/j/up -> ../../…``, then ``root -> a/…/j/up/../../…``) looks contained to
``normpath`` yet resolves to ``/``. So each entry's parent is resolved with ``realpath``,
each link's target is resolved through the links already made, and once every entry is
out, every link is resolved again (a link made early can be redirected by a later one).
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


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _check_link(root: Path, link_path: Path, target: str, name: str) -> None:
    """Refuse a link whose target, resolved through the links that exist now, leaves ``root``."""
    if target.startswith("/") or "\0" in target:
        raise UnsafeArchive(f"symlink {name!r} points outside the app: {target!r}")
    real_root = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(os.path.dirname(link_path), target))
    if not _inside(real_root, resolved):
        raise UnsafeArchive(f"symlink {name!r} points outside the app: {target!r}")


def _check_all_links(root: Path, made: list[tuple[Path, str]]) -> None:
    """Resolve every link again once all of them exist; remove them all if one escapes."""
    real_root = os.path.realpath(root)
    for path, name in made:
        if not _inside(real_root, os.path.realpath(path)):
            target = os.readlink(path)
            for other, _ in made:
                if os.path.islink(other):
                    os.unlink(other)
            raise UnsafeArchive(f"symlink {name!r} points outside the app (through other links): {target!r}")


def _check_parents(root: Path, relative: str) -> Path:
    """Refuse to write through a symlink made by an earlier entry; the real parent must be
    inside the real root."""
    path = root
    for part in Path(relative).parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise UnsafeArchive(f"entry {relative!r} goes through the symlink {part!r}")
    target = root / relative
    if not _inside(os.path.realpath(root), os.path.realpath(target.parent)):
        raise UnsafeArchive(f"entry {relative!r} resolves outside the app")
    return target


def unzip(archive: Path, target: Path, max_bytes: int) -> int:
    """Extract a zip into ``target``; return the number of files. Modes keep only rwx bits."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    count = 0
    links: list[tuple[Path, str]] = []
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
                if info.file_size > 4096:
                    raise UnsafeArchive(f"symlink {name!r}: target longer than 4096 bytes")
                link = zf.read(info).decode("utf-8", "replace")
                path.parent.mkdir(parents=True, exist_ok=True)
                _check_link(target, path, link, name)
                if path.is_symlink() or path.exists():
                    path.unlink()
                os.symlink(link, path)
                links.append((path, name))
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
    _check_all_links(target, links)
    return count


def untar(archive: Path, target: Path, max_bytes: int, only: str | None = None) -> int:
    """Extract a tar(.gz) into ``target``. With ``only="app"``, just that top-level directory's
    contents (stripped of the prefix). Regular files, directories and contained symlinks only."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    count = 0
    links: list[tuple[Path, str]] = []
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
                path.parent.mkdir(parents=True, exist_ok=True)
                _check_link(target, path, member.linkname, name)
                if path.is_symlink() or path.exists():
                    path.unlink()
                os.symlink(member.linkname, path)
                links.append((path, name))
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
    _check_all_links(target, links)
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
