"""Basic auth shared by the operator API and the agents' blobstore endpoint."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def check_basic_auth(header: str | None, user: str, password: str) -> bool:
    given = parse_basic_auth(header)
    if given is None:
        return False
    return hmac.compare_digest(given[0].encode(), user.encode()) & \
        hmac.compare_digest(given[1].encode(), password.encode())


def unauthorized() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text='{"code": 401, "description": "Not authorized: bad or missing credentials"}\n',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Basic realm="bosh-py"'},
    )
