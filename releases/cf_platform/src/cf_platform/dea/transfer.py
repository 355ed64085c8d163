"""HTTP downloads and uploads against the cloud controller's internal endpoints.

The CC hands out absolute URLs with the internal credentials embedded
(``http://user:password@host:port/internal/...``); urllib does not turn userinfo into a
header by itself, so it is taken out of the URL and sent as basic auth.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

CHUNK = 1 << 20


class TransferError(Exception):
    pass


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """(url without userinfo, headers with the basic auth it carried)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TransferError(f"unsupported URL scheme in {redact(url)}")
    headers: dict[str, str] = {}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), headers


def redact(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit((parts.scheme, f"{userinfo.split(':', 1)[0]}:***@{host}", parts.path, parts.query, ""))


def download(url: str, target: Path, max_bytes: int, timeout: float = 60.0) -> str:
    """Stream ``url`` into ``target`` (atomically); return the hex sha1 of what was written."""
    plain, headers = split_credentials(url)
    request = urllib.request.Request(plain, headers=headers, method="GET")
    digest = hashlib.sha1()
    partial = target.with_name(target.name + ".part")
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(partial, "wb") as out:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise TransferError(f"{redact(url)}: larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        os.replace(partial, target)
    except urllib.error.HTTPError as error:
        raise TransferError(f"GET {redact(url)}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise TransferError(f"GET {redact(url)}: {getattr(error, 'reason', error)}") from None
    finally:
        partial.unlink(missing_ok=True)
    return digest.hexdigest()


def upload(url: str, source: Path, timeout: float = 60.0) -> int:
    """PUT the file's bytes to ``url``; return the HTTP status (2xx, else TransferError)."""
    plain, headers = split_credentials(url)
    headers["Content-Type"] = "application/gzip"
    headers["Content-Length"] = str(source.stat().st_size)
    try:
        with open(source, "rb") as body:
            request = urllib.request.Request(plain, data=body, headers=headers, method="PUT")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return response.status
    except urllib.error.HTTPError as error:
        raise TransferError(f"PUT {redact(url)}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise TransferError(f"PUT {redact(url)}: {getattr(error, 'reason', error)}") from None


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
