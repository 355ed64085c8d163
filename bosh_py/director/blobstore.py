"""The director's blobstore: immutable blobs named by uuid, in a local directory
(``LocalBlobstore``, the default) or an S3-compatible bucket (``blobstore_s3.py``), both
behind the ``Blobstore`` protocol.

Agents reach it over HTTP (see ``blobstore_http.py``); the director uses it directly.
Digests are ``sha256:<hex>`` strings, as everywhere in bosh-py.

Blobs hold rendered templates (every job's secrets), so the store is private: directories
0700, files 0600, whatever the process umask. A blob is written to a uniquely named
temporary file and renamed into place, so a reader never sees half a blob and two writers
never share a temporary file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from bosh_py.errors import BoshPyError

CHUNK = 1 << 20
DIR_MODE = 0o700
FILE_MODE = 0o600


class BlobNotFound(BoshPyError):
    pass


class BlobTooLarge(BoshPyError):
    pass


class BlobstoreError(BoshPyError):
    """The store itself failed (an S3 endpoint unreachable, access denied): not a missing blob."""


def sha256_digest_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def valid_blob_id(blob_id: str) -> bool:
    return len(blob_id) == 32 and all(c in "0123456789abcdef" for c in blob_id)


def new_blob_id() -> str:
    return uuid.uuid4().hex


class BlobWriter:
    """One blob being written: ``write`` chunks (refused past ``max_bytes``), then
    ``commit`` renames it into place, or ``abort`` removes what was written."""

    def __init__(self, target: Path, max_bytes: int | None = None) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.size = 0
        self._digest = hashlib.sha256()
        self._tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        self._out = os.fdopen(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise BlobTooLarge(f"Blob {self.target.name} is larger than the limit of {self.max_bytes} bytes")
        self._digest.update(chunk)
        self._out.write(chunk)

    def commit(self) -> str:
        """Put the blob in place; returns its digest."""
        self._out.close()
        os.replace(self._tmp, self.target)
        return f"sha256:{self._digest.hexdigest()}"

    def abort(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)


class Blobstore(Protocol):
    """What the director's code needs of a blobstore. Blobs are written once and never
    changed, so a copy of one (``get_path``'s local file) never goes stale."""

    def exists(self, blob_id: str) -> bool: ...

    def writer(self, blob_id: str | None = None, max_bytes: int | None = None) -> BlobWriter: ...

    def put_file(self, source: Path) -> tuple[str, str]: ...

    def put_bytes(self, data: bytes) -> tuple[str, str]: ...

    def put_stream(self, stream: BinaryIO, blob_id: str | None = None) -> tuple[str, str]: ...

    def get_path(self, blob_id: str) -> Path:
        """A local file holding the blob, to read (not to change); BlobNotFound if there is none.
        May download: call it off the event loop."""
        ...

    def copy_to(self, blob_id: str, dest: Path) -> None: ...

    def delete(self, blob_id: str) -> None: ...

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        """Every blob as (id, time written, seconds since the epoch): for ``clean-up``."""
        ...


class WriterPuts:
    """put_file / put_bytes / put_stream for a store, through its own ``writer`` (which
    digests while it writes and commits or aborts as one)."""

    def writer(self, blob_id: str | None = None, max_bytes: int | None = None) -> BlobWriter:
        raise NotImplementedError

    def put_file(self, source: Path) -> tuple[str, str]:
        """Copy a file in; returns (blob id, digest)."""
        with source.open("rb") as stream:
            return self.put_stream(stream)

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        blob_id = new_blob_id()
        writer = self.writer(blob_id)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return blob_id, writer.commit()

    def put_stream(self, stream: BinaryIO, blob_id: str | None = None) -> tuple[str, str]:
        blob_id = blob_id or new_blob_id()
        writer = self.writer(blob_id)
        try:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return blob_id, writer.commit()


class LocalBlobstore(WriterPuts):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(self.root, DIR_MODE)

    def path(self, blob_id: str) -> Path:
        if not valid_blob_id(blob_id):
            raise BlobNotFound(f"Invalid blob id '{blob_id}'")
        return self.root / blob_id[:2] / blob_id

    def exists(self, blob_id: str) -> bool:
        return valid_blob_id(blob_id) and self.path(blob_id).exists()

    def writer(self, blob_id: str | None = None, max_bytes: int | None = None) -> BlobWriter:
        """Start writing a blob (a new id unless one is given)."""
        target = self.path(blob_id or new_blob_id())
        target.parent.mkdir(exist_ok=True, mode=DIR_MODE)
        return BlobWriter(target, max_bytes)

    def get_path(self, blob_id: str) -> Path:
        path = self.path(blob_id)
        if not path.exists():
            raise BlobNotFound(f"Blob '{blob_id}' not found")
        return path

    def copy_to(self, blob_id: str, dest: Path) -> None:
        shutil.copyfile(self.get_path(blob_id), dest)

    def delete(self, blob_id: str) -> None:
        if valid_blob_id(blob_id):
            self.path(blob_id).unlink(missing_ok=True)

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        for path in self.root.glob("??/*"):
            if valid_blob_id(path.name):
                try:
                    yield path.name, path.stat().st_mtime
                except FileNotFoundError:
                    continue  # deleted while listing
