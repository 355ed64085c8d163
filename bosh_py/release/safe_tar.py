"""Checking and extracting untrusted tar archives without letting them escape.

Release tarballs come from operators' machines and the internet; a crafted member name
(``../evil``, ``/etc/cron.d/x``), a symlink or hardlink to somewhere else, or a device
node must never be written. Every member is checked *before* anything is extracted, so a
bad archive leaves nothing behind, and extraction itself refuses to follow symlinks
(``O_NOFOLLOW``, parent directories resolved and checked) as a second line of defence.

Release and job archives hold only regular files and directories, so links are refused
outright (the message says when one points outside); package contents with internal
symlinks are the agent's business, not this module's.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import tarfile
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class UnsafeArchive(ValueError):
    """A member that must not be extracted; the message names it."""


def is_safe_name(name: str) -> bool:
    """A job, package or release name usable as one path component."""
    return bool(_SAFE_NAME.match(name)) and name not in (".", "..")


def is_safe_relative_path(path: str) -> bool:
    """A relative path that stays inside its base directory (no ``/x``, no ``..``)."""
    norm = posixpath.normpath(path) if path else ""
    return (bool(path) and not path.startswith("/") and "\\" not in path
            and norm not in (".", "..") and not norm.startswith("../"))


def normalize_member_name(name: str) -> str:
    """``./a/b`` → ``a/b``; raises UnsafeArchive for absolute or ``..`` paths."""
    if name.startswith("/") or name.startswith("\\") or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchive(f"member '{name}' has an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"member '{name}' has a '..' path component")
    return "/".join(parts)


def _link_escapes(member: tarfile.TarInfo, name: str) -> bool:
    target = member.linkname
    if target.startswith("/"):
        return True
    base = posixpath.dirname(name) if member.issym() else ""
    norm = posixpath.normpath(posixpath.join(base, target))
    return norm == ".." or norm.startswith("../")


def check_members(members: list[tarfile.TarInfo]) -> dict[str, tarfile.TarInfo]:
    """Validate every member; returns normalised name → member for files and directories."""
    result: dict[str, tarfile.TarInfo] = {}
    for m in members:
        name = normalize_member_name(m.name)
        if m.issym() or m.islnk():
            kind = "symlink" if m.issym() else "hardlink"
            if _link_escapes(m, name):
                raise UnsafeArchive(f"member '{m.name}' is a {kind} to '{m.linkname}', which points outside the archive")
            raise UnsafeArchive(f"member '{m.name}' is a {kind}; links are not allowed here")
        if m.ischr() or m.isblk() or m.isfifo():
            raise UnsafeArchive(f"member '{m.name}' is a device or FIFO")
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchive(f"member '{m.name}' has an unsupported type")
        if not name:
            if m.isdir():
                continue  # the archive's own root "./"
            raise UnsafeArchive(f"member '{m.name}' has an empty path")
        if name in result and not (m.isdir() and result[name].isdir()):
            raise UnsafeArchive(f"member '{m.name}' appears twice")
        result[name] = m
    files = {n for n, m in result.items() if m.isfile()}
    for n in result:
        parent = posixpath.dirname(n)
        while parent:
            if parent in files:
                raise UnsafeArchive(f"member '{n}' is inside '{parent}', which is a file")
            parent = posixpath.dirname(parent)
    return result


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def safe_extract(tar: tarfile.TarFile, dest: Path) -> list[str]:
    """Check all members, then extract files and directories under ``dest``.

    Modes are normalised (0755 for executables and directories, 0644 otherwise; no setuid,
    no owners). Returns the normalised names of the files written.
    """
    members = check_members(tar.getmembers())
    root = os.path.realpath(dest)
    written = []
    for name, m in sorted(members.items()):
        target = os.path.join(root, *name.split("/"))
        if m.isdir():
            os.makedirs(target, mode=0o755, exist_ok=True)
            continue
        parent = os.path.dirname(target)
        os.makedirs(parent, mode=0o755, exist_ok=True)
        if not _inside(os.path.realpath(parent), root):
            raise UnsafeArchive(f"member '{m.name}' would be written outside the destination")
        mode = 0o755 if m.mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644
        src = tar.extractfile(m)
        assert src is not None
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out, src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(target, mode)
        written.append(name)
    return written
