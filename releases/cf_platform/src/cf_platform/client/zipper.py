"""Packing an app directory into the zip the cloud controller takes (``PUT .../bits``)."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from .errors import CfError

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".cf-py"}
SKIP_FILES = {".DS_Store"}


def zip_directory(root: Path) -> tuple[bytes, int]:
    """The zip's bytes and its number of files. File modes are kept (a start script stays
    executable); VCS and cache directories are left out."""
    if not root.is_dir():
        raise CfError(f"App path {root} is not a directory")
    buf = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                if name in SKIP_FILES or name.endswith(".pyc"):
                    continue
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except OSError:
                    continue        # a dangling symlink
                if not stat.S_ISREG(st.st_mode):
                    continue
                info = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IMODE(st.st_mode) | stat.S_IFREG) << 16
                archive.writestr(info, path.read_bytes())
                count += 1
    if count == 0:
        raise CfError(f"App path {root} has no files to push")
    return buf.getvalue(), count
