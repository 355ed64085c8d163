"""Droplets fetched from the cloud controller, cached by sha1.

A DEA runs many instances of few apps: the droplet is downloaded once per sha1 and each
instance unpacks its own copy. A download whose sha1 differs from the one the CC sent is
refused (a half-written or swapped blob must not run).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .transfer import TransferError, download

DROPLET = "droplet.tgz"


@dataclass
class DropletCache:
    root: Path
    max_bytes: int
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def path(self, sha1: str) -> Path:
        return self.root / sha1 / DROPLET

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def fetch(self, uri: str | None, sha1: str | None) -> Path:
        """The droplet's local path, downloading it if needed (blocking: call in a thread)."""
        if sha1 and self.path(sha1).is_file():
            return self.path(sha1)
        if not uri:
            raise TransferError(f"droplet {sha1 or '?'} is not cached and no droplet_uri was given")
        with self._lock(sha1 or uri):
            if sha1 and self.path(sha1).is_file():  # another instance fetched it meanwhile
                return self.path(sha1)
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = self.root / f"download-{uuid.uuid4().hex}"
            try:
                actual = download(uri, partial, self.max_bytes)
                if sha1 and actual != sha1:
                    raise TransferError(f"droplet sha1 mismatch: expected {sha1}, got {actual}")
                target = self.path(actual)
                target.parent.mkdir(exist_ok=True)
                os.replace(partial, target)
                return target
            finally:
                partial.unlink(missing_ok=True)

    def prune(self, keep: set[str]) -> None:
        """Drop cached droplets no instance uses any more."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
