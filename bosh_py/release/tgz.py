"""Deterministic tar.gz writing.

Release, job, package and rendered-template archives are identified by their sha256, so
building the same content twice must give the same bytes: members are sorted, owners are
root/root with no names, mtimes are fixed, modes are normalised to 0755/0644, and the gzip
header carries no timestamp or file name.

Compression level 1: package blobs (the 18 MB nats-server) are mostly incompressible;
level 1 costs ~10% size against level 6 but is 3-4x faster, which keeps ``create-release``
well under a second.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

FIXED_MTIME = 0
COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class TarEntry:
    """One regular file to write: from ``source`` on disk, or from ``data`` in memory."""

    name: str
    mode: int = 0o644
    source: Path | None = None
    data: bytes | None = None


def _parent_dirs(names: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return dirs


def _info(name: str, *, mode: int, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tgz(entries: Iterable[TarEntry], out: BinaryIO, *, with_dirs: bool = True) -> None:
    """Write ``entries`` as a deterministic tar.gz to the binary stream ``out``."""
    entries = sorted(entries, key=lambda e: e.name)
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("duplicate archive member names")
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=FIXED_MTIME,
                       compresslevel=COMPRESS_LEVEL) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
            members: list[tuple[str, TarEntry | None]] = [(n, e) for n, e in zip(names, entries)]
            if with_dirs:
                members += [(d, None) for d in _parent_dirs(names)]
            for name, entry in sorted(members, key=lambda m: m[0]):
                if entry is None:
                    tar.addfile(_info(name, mode=0o755, kind=tarfile.DIRTYPE))
                elif entry.data is not None:
                    tar.addfile(_info(name, mode=entry.mode, size=len(entry.data)), io.BytesIO(entry.data))
                else:
                    assert entry.source is not None
                    with open(entry.source, "rb") as f:
                        size = os.fstat(f.fileno()).st_size
                        tar.addfile(_info(name, mode=entry.mode, size=size), f)


def tgz_bytes(entries: Iterable[TarEntry], *, with_dirs: bool = True) -> bytes:
    """The deterministic tar.gz of ``entries`` as bytes (for small archives)."""
    buf = io.BytesIO()
    write_tgz(entries, buf, with_dirs=with_dirs)
    return buf.getvalue()


def write_tgz_file(entries: Iterable[TarEntry], path: Path, *, with_dirs: bool = True) -> None:
    """Write the archive to ``path`` atomically (temp file + rename), so a crash or a
    failed build never leaves a half-written tarball that looks valid by name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write_tgz(entries, f, with_dirs=with_dirs)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
