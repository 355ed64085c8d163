"""Downloading a release tarball for `upload-release URL`: the director fetches it (as BOSH's
does), never more than ``remote_release_max_bytes``, and checks the digest the operator gave
(``--sha1``) before the upload task reads a byte of it.

URLs may carry credentials (``https://user:token@host/…`` or a signed query): only the
scheme, host and path are ever logged.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bosh_py.errors import BoshPyError
from bosh_py.release.digest import file_digest_as

CHUNK = 1 << 20


class FetchError(BoshPyError):
    pass


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"location: expected an http(s) URL or a file to upload, got '{shown_url(url)}'")
    return url


def shown_url(url: str) -> str:
    """The URL without user info, query or fragment: what may appear in a log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url[:80]


def check_digest_format(expected: str | None) -> str | None:
    """``--sha1``: 40 hex digits (SHA-1, BOSH's) or ``sha256:<64 hex>``."""
    if expected is None or expected == "":
        return None
    algorithm, hexdigest = _split_digest(expected)
    if algorithm is None:
        raise FetchError(f"sha1: expected 40 hex digits or sha256:<64 hex digits>, got '{expected[:80]}'")
    return f"{algorithm}:{hexdigest}" if algorithm == "sha256" else hexdigest


def _split_digest(value: str) -> tuple[str | None, str]:
    value = value.strip().lower()
    hexdigits = set("0123456789abcdef")
    if value.startswith("sha256:") and len(value) == 71 and set(value[7:]) <= hexdigits:
        return "sha256", value[7:]
    value = value.removeprefix("sha1:")
    if len(value) == 40 and set(value) <= hexdigits:
        return "sha1", value
    return None, value


def verify_digest(path: Path, expected: str | None) -> None:
    """Compare a file with the operator's digest; a mismatch names both values."""
    normalized = check_digest_format(expected)
    if normalized is None:
        return
    got = file_digest_as(path, normalized)
    if got != normalized:
        raise FetchError(f"The release does not match the given --sha1: expected {expected}, got {got}")


async def download(url: str, dest: Path, max_bytes: int, log) -> None:  # type: ignore[no-untyped-def]
    """Stream ``url`` into ``dest`` (removed on any failure); at most ``max_bytes``."""
    size = 0
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True,
                                     max_redirects=5, trust_env=False) as client, \
                client.stream("GET", check_url(url)) as response:
            if response.status_code != 200:
                raise FetchError(f"Downloading {shown_url(url)}: the server answered {response.status_code}")
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise FetchError(f"Downloading {shown_url(url)}: {declared} bytes is more than the "
                                 f"director's limit of {max_bytes} (remote_release_max_bytes)")
            with dest.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"Downloading {shown_url(url)}: more than the director's limit "
                                         f"of {max_bytes} bytes (remote_release_max_bytes)")
                    out.write(chunk)
    except httpx.HTTPError as error:
        dest.unlink(missing_ok=True)
        raise FetchError(f"Downloading {shown_url(url)} failed: {type(error).__name__}") from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    log.info(f"Downloaded {size} bytes from {shown_url(url)}")
