"""Fingerprints of jobs and packages.

A fingerprint is what makes a job or package "the same" across release versions: the
director stores each once per fingerprint and compiles a package once per fingerprint and
stemcell. So it must depend only on content (never on mtimes, owners or the order the
filesystem lists files in) and change whenever anything that ends up on a VM changes:
a file's bytes, its path, whether it is executable, and for packages the names of the
packages it depends on (their compiled output is part of the build).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .digest import sha256_hex_file


@dataclass(frozen=True)
class FileEntry:
    """A file that goes into a job or package archive.

    ``archive_path`` is the path inside the archive (and in the fingerprint), ``source``
    the file on disk it is read from.
    """

    archive_path: str
    source: Path

    @property
    def executable(self) -> bool:
        return bool(os.stat(self.source).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))

    @property
    def mode(self) -> int:
        """The normalised mode the file gets in archives: 0755 or 0644, nothing else."""
        return 0o755 if self.executable else 0o644


def fingerprint(files: list[FileEntry], dependencies: list[str] | None = None) -> str:
    """Hex sha256 over the sorted ``(path, content sha256, mode)`` triples and dependencies.

    Each triple is one line ``path\\0sha256\\0mode\\n``; NUL cannot appear in a path, so no
    two different file sets produce the same input.
    """
    h = hashlib.sha256()
    for entry in sorted(files, key=lambda e: e.archive_path):
        line = f"{entry.archive_path}\0{sha256_hex_file(entry.source)}\0{entry.mode:o}\n"
        h.update(line.encode())
    for dep in sorted(dependencies or []):
        h.update(f"dependency\0{dep}\n".encode())
    return h.hexdigest()
