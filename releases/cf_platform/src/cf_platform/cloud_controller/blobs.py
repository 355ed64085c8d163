"""The blobstore: app bits (zip) and droplets (tar.gz) as files on the persistent disk.

Files are written to a temporary name and renamed into place, so a DEA downloading a
droplet never sees half of a new one, and an interrupted upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

CHUNK = 1 << 16


class BlobTooLarge(Exception):
    pass


class Blobstore:
    def __init__(self, root: Path) -> None:
        self.root = root
        for kind in ("bits", "droplets", "tmp"):
            (root / kind).mkdir(parents=True, exist_ok=True)

    def bits_path(self, guid: str) -> Path:
        return self.root / "bits" / f"{guid}.zip"

    def droplet_path(self, guid: str) -> Path:
        return self.root / "droplets" / f"{guid}.tgz"

    def receive(self, source: BinaryIO, length: int, limit: int) -> tuple[Path, str]:
        """Copy ``length`` bytes of a request body to a temp file; returns (path, sha1 hex).
        The caller validates it, then :meth:`commit`s or :meth:`discard`s it."""
        if length > limit:
            raise BlobTooLarge(length)
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        digest = hashlib.sha1()
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                while remaining > 0:
                    chunk = source.read(min(CHUNK, remaining))
                    if not chunk:
                        raise EOFError(f"request body ended {remaining} bytes early")
                    digest.update(chunk)
                    out.write(chunk)
                    remaining -= len(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), digest.hexdigest()

    def store_bytes(self, data: bytes) -> tuple[Path, str]:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return Path(name), hashlib.sha1(data).hexdigest()

    @staticmethod
    def commit(tmp: Path, dest: Path) -> None:
        os.replace(tmp, dest)

    @staticmethod
    def discard(tmp: Path) -> None:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass

    def delete_app(self, guid: str) -> None:
        for path in (self.bits_path(guid), self.droplet_path(guid)):
            self.discard(path)

    @staticmethod
    def stream(path: Path, write: Callable[[bytes], object]) -> None:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                write(chunk)


def file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
