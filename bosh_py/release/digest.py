"""Digests as bosh-py writes them everywhere: ``sha256:<hex>``.

Real BOSH releases may still carry bare 40-hex SHA-1 digests in ``release.MF``; reading
accepts both so such tarballs can be checked, writing always uses sha256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_hex_file(path: str | Path) -> str:
    """Bare hex sha256 of a file, read in chunks so big blobs do not fill memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    """``sha256:<hex>`` of a file."""
    return "sha256:" + sha256_hex_file(path)


def file_digest_as(path: str | Path, expected: str) -> str:
    """The digest of ``path`` in the same algorithm as ``expected`` (for comparison).

    ``expected`` is ``sha256:<hex>`` or a bare 40-hex SHA-1 (legacy BOSH releases).
    Raises ValueError for anything else, so a manifest with a garbage digest is caught.
    """
    if expected.startswith("sha256:"):
        return sha256_file(path)
    if len(expected) == 40 and all(c in "0123456789abcdef" for c in expected.lower()):
        h = hashlib.sha1()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()
    raise ValueError(f"unsupported digest {expected!r} (expected 'sha256:<hex>')")
