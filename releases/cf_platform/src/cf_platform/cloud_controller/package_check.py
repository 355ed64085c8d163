"""Is an uploaded app package a usable zip? Checked before it replaces the old bits, so a
bad upload is a clear 400 and never a staging failure minutes later."""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path


class InvalidPackage(Exception):
    """str(e) says what is wrong, for the user."""


MAX_ENTRIES = 100_000


def check_zip(path: Path) -> int:
    """Raise InvalidPackage unless ``path`` is a non-empty zip with safe relative names and
    intact members; returns the number of files."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidPackage("the uploaded application package is empty (0 bytes)")
    if not zipfile.is_zipfile(path):
        raise InvalidPackage("the uploaded application package is not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise InvalidPackage(f"the zip has more than {MAX_ENTRIES} entries")
            files = 0
            for info in infos:
                name = info.filename
                norm = posixpath.normpath(name)
                if name.startswith("/") or norm == ".." or norm.startswith("../") or "\\" in name:
                    raise InvalidPackage(f"the zip has an unsafe path: {name!r}")
                if not info.is_dir():
                    files += 1
            bad = archive.testzip()
            if bad is not None:
                raise InvalidPackage(f"the zip is corrupt (bad CRC in {bad!r})")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as e:
        raise InvalidPackage(f"the zip is corrupt: {e}") from e
    if files == 0:
        raise InvalidPackage("the zip contains no files")
    return files
