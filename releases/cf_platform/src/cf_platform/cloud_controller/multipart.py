"""Just enough multipart/form-data to take the ``application`` file of a bits upload.

The stdlib's ``cgi`` module is deprecated (gone in 3.13) and the VMs have no third-party
packages, so the body (already spooled to a file) is split by its boundary here.
"""

from __future__ import annotations

import re
from pathlib import Path

_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME_RE = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)


class MultipartError(Exception):
    pass


def boundary_of(content_type: str) -> str | None:
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    match = _BOUNDARY_RE.search(content_type)
    if not match:
        raise MultipartError("multipart/form-data without a boundary")
    return match.group(1)


def parse_parts(body: bytes, boundary: str) -> dict[str, bytes]:
    """name -> raw content of every part (later parts win)."""
    delimiter = b"--" + boundary.encode()
    if delimiter not in body:
        raise MultipartError("the multipart body does not contain its boundary")
    parts: dict[str, bytes] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a multipart part has no header/body separator")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = head.decode("utf-8", "replace")
        match = _NAME_RE.search(headers)
        if match:
            parts[match.group(1)] = content
    return parts


def extract_part(path: Path, boundary: str, name: str) -> bytes | None:
    return parse_parts(path.read_bytes(), boundary).get(name)
