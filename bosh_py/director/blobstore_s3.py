"""The director's blobstore in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, moto).

Why: a director split into an API and workers on other machines needs one store they all
reach; a directory works only when they share a disk. Agents still fetch and upload
through the director's HTTP front door (``blobstore_http.py``) with their own logins, so
no VM ever holds the bucket's keys.

Every blob is first written to a local directory (the cache, a ``LocalBlobstore``) while
its sha256 is computed, as the local store does, then uploaded (boto3's managed transfer:
multipart past ``multipart_threshold``) and only then moved into the cache: a blob is in
the bucket before anyone is told its id. ``get_path`` answers from the cache, downloading
on a miss; blobs never change once written, so a cached copy is never stale. The cache is
bounded by ``cache_max_bytes``: least recently used copies go first, never one used in
the last ``CACHE_GRACE`` seconds (a caller may be about to open it). A blob deleted by
another worker may linger in this one's cache until evicted; ids are never reused, so it
is never served in place of another.

Keys are ``<prefix><blob id>``. Errors from the store are ``BlobstoreError`` naming the
bucket and what was being done, never the credentials.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from bosh_py.director.blobstore import (FILE_MODE, BlobNotFound, BlobstoreError, BlobWriter, LocalBlobstore,
                                        WriterPuts, new_blob_id, valid_blob_id)
from bosh_py.director.config import S3BlobstoreConfig

CACHE_GRACE = 60.0  # seconds a cached copy is safe from eviction after its last use
MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Blobstore(WriterPuts):
    def __init__(self, config: S3BlobstoreConfig, cache_dir: Path) -> None:
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.cache = LocalBlobstore(cache_dir)
        self.cache_max_bytes = config.cache_max_bytes
        self._where = f"S3 bucket '{config.bucket}'" + (f" at {config.endpoint}" if config.endpoint else "")
        self._extra = {"ServerSideEncryption": config.server_side_encryption} if config.server_side_encryption else {}
        self._transfer = TransferConfig(multipart_threshold=config.multipart_threshold,
                                        multipart_chunksize=config.multipart_chunksize, max_concurrency=4)
        secret = config.secret_access_key.get_secret_value() if config.secret_access_key else None
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=config.endpoint, region_name=config.region,
            aws_access_key_id=config.access_key_id, aws_secret_access_key=secret,
            verify=str(config.ca_cert) if config.ca_cert else None,
            config=BotoConfig(s3={"addressing_style": config.addressing_style}, connect_timeout=10,
                              read_timeout=60, retries={"mode": "standard", "max_attempts": 5}))
        self._trim_lock = threading.Lock()
        self._cached_bytes = self._cache_size()  # kept roughly; recounted when it passes the limit

    def key(self, blob_id: str) -> str:
        return self.prefix + blob_id

    def check(self) -> None:
        """Fail at start, with the reason, if the bucket cannot be reached."""
        try:
            with self._errors("reaching the bucket"):
                self.client.head_bucket(Bucket=self.bucket)
        except BlobNotFound:
            raise BlobstoreError(f"{self._where} does not exist (create it first)") from None

    def exists(self, blob_id: str) -> bool:
        if not valid_blob_id(blob_id):
            return False
        try:
            with self._errors("looking it up", blob_id):
                self.client.head_object(Bucket=self.bucket, Key=self.key(blob_id))
        except BlobNotFound:
            return False
        return True

    def writer(self, blob_id: str | None = None, max_bytes: int | None = None) -> BlobWriter:
        """Write to the cache (digest as it streams); ``commit`` uploads, then keeps the copy."""
        target = self.cache.path(blob_id or new_blob_id())
        target.parent.mkdir(exist_ok=True, mode=0o700)
        return _UploadingWriter(self, target, max_bytes)

    def get_path(self, blob_id: str) -> Path:
        target = self.cache.path(blob_id)  # BlobNotFound for an invalid id
        try:
            os.utime(target)  # a hit: mark it recently used
            return target
        except FileNotFoundError:
            pass
        self._download(blob_id, target)
        self._cached(target.stat().st_size)
        return target

    def copy_to(self, blob_id: str, dest: Path) -> None:
        shutil.copyfile(self.get_path(blob_id), dest)

    def delete(self, blob_id: str) -> None:
        if not valid_blob_id(blob_id):
            return
        with self._errors("deleting it", blob_id):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(blob_id))
        self.cache.delete(blob_id)

    def list_blobs(self) -> Iterator[tuple[str, float]]:
        with self._errors("listing blobs"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    blob_id = item["Key"][len(self.prefix):]
                    if valid_blob_id(blob_id):
                        yield blob_id, item["LastModified"].timestamp()

    def upload(self, source: Path, blob_id: str, digest: str) -> None:
        """Put a finished local file in the bucket under ``blob_id`` (multipart when large)."""
        with self._errors("uploading it", blob_id):
            self.client.upload_file(str(source), self.bucket, self.key(blob_id), Config=self._transfer,
                                    ExtraArgs={"Metadata": {"sha256": digest}, **self._extra})

    def _download(self, blob_id: str, target: Path) -> None:
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        target.parent.mkdir(exist_ok=True, mode=0o700)
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as out, \
                    self._errors("downloading it", blob_id):
                self.client.download_fileobj(self.bucket, self.key(blob_id), out, Config=self._transfer)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _cache_size(self) -> int:
        total = 0
        for blob_id, _ in self.cache.list_blobs():
            try:
                total += self.cache.path(blob_id).stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _cached(self, size: int) -> None:
        """A copy of ``size`` bytes joined the cache: evict if it is now over its limit."""
        with self._trim_lock:
            self._cached_bytes += size
            if self._cached_bytes > self.cache_max_bytes:
                self._trim_cache()

    def _trim_cache(self) -> None:
        """Evict least recently used copies until the cache fits ``cache_max_bytes`` (lock held)."""
        entries = []
        for blob_id, _ in self.cache.list_blobs():
            try:
                stat = self.cache.path(blob_id).stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, stat.st_size, blob_id))
        total = sum(size for _, size, _ in entries)
        recent = time.time() - CACHE_GRACE
        for mtime, size, blob_id in sorted(entries):
            if total <= self.cache_max_bytes or mtime > recent:
                break
            self.cache.delete(blob_id)
            total -= size
        self._cached_bytes = total

    @contextmanager
    def _errors(self, doing: str, blob_id: str | None = None) -> Iterator[None]:
        """botocore's errors as BlobNotFound or BlobstoreError (their text names no secret)."""
        what = f"blob '{blob_id}'" if blob_id else "the bucket"
        try:
            yield
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code", ""))
            if code in MISSING and blob_id:
                raise BlobNotFound(f"Blob '{blob_id}' not found in {self._where}") from None
            if code in MISSING:
                raise BlobNotFound(f"{self._where} not found") from None
            message = " ".join(part for part in (code, str(details.get("Message") or "")) if part)
            raise BlobstoreError(f"{self._where}: {what}: {doing} failed: {message or error}") from None
        except BotoCoreError as error:
            raise BlobstoreError(f"{self._where}: {what}: {doing} failed: {error}") from None


class _UploadingWriter(BlobWriter):
    """A ``BlobWriter`` into the cache whose ``commit`` first puts the blob in the bucket."""

    def __init__(self, store: S3Blobstore, target: Path, max_bytes: int | None) -> None:
        super().__init__(target, max_bytes)
        self._store = store

    def commit(self) -> str:
        self._out.close()
        digest = f"sha256:{self._digest.hexdigest()}"
        try:
            self._store.upload(self._tmp, self.target.name, digest)
        except BaseException:
            self.abort()
            raise
        super().commit()
        self._store._cached(self.size)
        return digest
