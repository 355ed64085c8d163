"""The director's blobstore: a directory of immutable blobs named by uuid.

Agents reach it over HTTP (see ``blobstore_http.py``); the director uses it directly.
Digests are ``sha256:<hex>`` strings, as everywhere in bosh-py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from bosh_py.errors import BoshPyError

CHUNK = 1 << 20


class BlobNotFound(BoshPyError):
    pass


def sha256_digest_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def valid_blob_id(blob_id: str) -> bool:
    return len(blob_id) == 32 and all(c in "0123456789abcdef" for c in blob_id)


class LocalBlobstore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not valid_blob_id(blob_id):
            raise BlobNotFound(f"Invalid blob id '{blob_id}'")
        return self.root / blob_id[:2] / blob_id

    def exists(self, blob_id: str) -> bool:
        return valid_blob_id(blob_id) and self.path(blob_id).exists()

    def put_file(self, source: Path) -> tuple[str, str]:
        """Copy a file in; returns (blob id, digest)."""
        with source.open("rb") as stream:
            return self.put_stream(stream)

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        blob_id = uuid.uuid4().hex
        target = self._prepare(blob_id)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return blob_id, f"sha256:{hashlib.sha256(data).hexdigest()}"

    def put_stream(self, stream: BinaryIO, blob_id: str | None = None) -> tuple[str, str]:
        blob_id = blob_id or uuid.uuid4().hex
        target = self._prepare(blob_id)
        tmp = target.with_suffix(".tmp")
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, target)
        return blob_id, f"sha256:{digest.hexdigest()}"

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

    def _prepare(self, blob_id: str) -> Path:
        target = self.path(blob_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
