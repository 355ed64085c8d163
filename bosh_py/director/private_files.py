"""The director's data dir is private: it holds the state DB (variables in clear), the
config (db_url), the secrets, SSH keys and the blobstore (rendered templates hold every
job's secrets). Directories 0700, files 0600; the director runs as root and no other
process needs to read any of it.

The process umask is left alone on purpose: the director starts the CPI, whose VM
filesystems need their ordinary modes. So files are created private explicitly, and
``secure_data_dir`` tightens what an older version (or a hand-made file) left open.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents inside it) a 0700 directory."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist (before a library such as SQLite
    creates it with the umask's mode); an existing file is only tightened."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, os.stat(path).st_mode & 0o700)


def write_private_text(path: Path, text: str) -> None:
    """Atomic write of a 0600 file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def open_private_append(path: Path):  # type: ignore[no-untyped-def]
    """A log file opened for appending, 0600 (logs may quote a failing command)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.fchmod(fd, os.fstat(fd).st_mode & 0o700)
    return os.fdopen(fd, "a")


def secure_data_dir(data_dir: Path) -> None:
    """The data dir 0700, and no group or other bits on anything under it (symlinks are
    left alone: their mode means nothing, and their targets are not ours)."""
    private_dir(data_dir)
    for dirpath, dirnames, filenames in os.walk(data_dir):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue  # removed meanwhile (a task's temporary file)
            if not os.path.islink(full) and st.st_mode & 0o077:
                os.chmod(full, st.st_mode & 0o700)
