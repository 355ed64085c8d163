"""Reading request bodies and writing JSON replies, shared by every service module."""

from __future__ import annotations

import json

from aiohttp import web

from .errors import bad_request


async def body_of(request: web.Request, key: str) -> dict:
    """The object under ``key`` in the JSON body (``{"server": {...}}``), or 400 saying what is wrong."""
    try:
        data = json.loads(await request.text() or "null")
    except json.JSONDecodeError as error:
        raise bad_request(f"Malformed request body: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise bad_request(f"Malformed request body: expected a JSON object with a '{key}' object")
    return data[key]


def reply(body: dict | None, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.json_response(body, status=status, headers=headers)
