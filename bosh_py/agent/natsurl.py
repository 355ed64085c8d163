"""Split a ``nats://user:password@host:port`` URL into what ``nats.connect`` wants.

nats-py takes credentials from a URL without percent-decoding them, so a password with
``@``, ``/`` or ``%`` in it would fail to log in; passing ``user``/``password`` apart is
exact. Stdlib only (the agent bundle uses it; ``bosh_py.mbus.urls`` re-exports it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit


def connect_options(url: str) -> dict[str, Any]:
    """``{"servers": ["nats://host:port"], "user": ..., "password": ...}`` (no user keys
    when the URL carries none)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    server = f"{parts.scheme or 'nats'}://{host}:{parts.port or 4222}"
    options: dict[str, Any] = {"servers": [server]}
    if parts.username is not None:
        options["user"] = unquote(parts.username)
        options["password"] = unquote(parts.password or "")
    return options


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{parts.username}:***@{host}{port}").geturl()
