"""Basic-auth middleware shared by the operator API and the agents' blobstore endpoint."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_basic_auth(header: str | None, user: str, password: str) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        given_user, _, given_password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given_user.encode(), user.encode()) & \
        hmac.compare_digest(given_password.encode(), password.encode())


def basic_auth_middleware(user: str, password: str, open_paths: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in open_paths and not check_basic_auth(
            request.headers.get("Authorization"), user, password
        ):
            raise web.HTTPUnauthorized(
                text='{"code": 401, "description": "Not authorized: bad or missing credentials"}\n',
                content_type="application/json",
                headers={"WWW-Authenticate": 'Basic realm="bosh-py"'},
            )
        return await handler(request)

    return middleware
