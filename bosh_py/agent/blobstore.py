"""The blobstore client: ``GET|PUT {url}/blobs/<id>`` with basic auth (docs/internals.md).

urllib only (the agent ships without third-party HTTP clients). Downloads stream to a
temporary file (0600: a rendered jobs archive holds secrets) beside the destination and
are verified before being renamed into place, so a half-downloaded or tampered blob is
never used."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bosh_py.agent.digest import Digest
from bosh_py.agent.errors import AgentActionError

CHUNK = 1 << 20
BLOB_ID = re.compile(r"[0-9a-f]{32}")


def upload_id_argument(value: Any, action: str) -> str | None:
    """The blob id the director named for an upload (None: an older director that named none)."""
    if value is None:
        return None
    if not isinstance(value, str) or not BLOB_ID.fullmatch(value):
        raise AgentActionError(f"{action}: invalid upload blobstore id {value!r}")
    return value


@dataclass
class BlobstoreClient:
    url: str
    user: str | None = None
    password: str | None = None
    timeout: float = 300.0

    @classmethod
    def from_settings(cls, blobstore: dict[str, Any]) -> "BlobstoreClient":
        opts = blobstore.get("options", blobstore)  # BOSH nests under "options"
        url = opts.get("url") or opts.get("endpoint")
        if not url:
            raise AgentActionError("settings.json: blobstore url missing")
        return cls(str(url).rstrip("/"), opts.get("user"), opts.get("password"))

    def _request(self, method: str, blob_id: str, data: Any = None,
                 headers: dict[str, str] | None = None) -> urllib.request.Request:
        if not blob_id or "/" in blob_id or blob_id.startswith("."):
            raise AgentActionError(f"Invalid blobstore id {blob_id!r}")
        req = urllib.request.Request(f"{self.url}/blobs/{blob_id}", data=data, method=method,
                                     headers=dict(headers or {}))
        if self.user is not None:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        return req

    def get(self, blob_id: str, dest: Path, digest: str | None) -> None:
        """Download ``blob_id`` to ``dest``, verifying ``digest`` (if given)."""
        expected = Digest.parse(digest) if digest else None
        hasher = expected.hasher() if expected else hashlib.sha256()
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with urllib.request.urlopen(self._request("GET", blob_id), timeout=self.timeout) as resp, \
                    os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    hasher.update(chunk)
                    out.write(chunk)
            if expected and hasher.hexdigest() != expected.hexdigest:
                raise AgentActionError(
                    f"Blob {blob_id} digest mismatch: expected {expected}, "
                    f"got {expected.algorithm}:{hasher.hexdigest()}")
            os.replace(tmp, dest)
        except urllib.error.HTTPError as e:
            raise AgentActionError(f"Downloading blob {blob_id} failed: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise AgentActionError(f"Downloading blob {blob_id} failed: {e}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, src: Path, blob_id: str | None = None) -> tuple[str, str]:
        """Upload a file as ``blob_id`` (the director hands agents the id they may write;
        a new uuid when None); return ``(blob_id, "sha256:<hex>")``."""
        blob_id = blob_id or uuid.uuid4().hex
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        size = os.path.getsize(src)
        try:
            with open(src, "rb") as f:
                req = self._request("PUT", blob_id, data=f, headers={
                    "Content-Length": str(size), "Content-Type": "application/octet-stream"})
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
        except urllib.error.HTTPError as e:
            raise AgentActionError(f"Uploading blob failed: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise AgentActionError(f"Uploading blob failed: {e}") from None
        return blob_id, f"sha256:{h.hexdigest()}"
