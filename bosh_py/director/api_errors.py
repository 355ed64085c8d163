"""How the director's API refuses a request: a JSON error with a status that says whose
fault it is (4xx: the request, naming the field; 5xx: the director), never a bare 500 page.

Also the readers of request fields, so a wrong type or range is refused here, with the
field's name, before it reaches code that would fail obscurely on it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bosh_py.director.blobstore import BlobNotFound
from bosh_py.errors import BoshPyError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_ID = 2 ** 63 - 1  # the largest id the state DB can hold


class ApiError(BoshPyError):
    """A request the API refuses, with its HTTP status."""

    status = 400


class NotFound(ApiError):
    status = 404


def error_response(status: int, message: str) -> web.Response:
    """The JSON every API error has: ``error`` (and ``code``/``description``, which the CLI reads)."""
    return web.json_response({"code": status, "error": message, "description": message}, status=status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error the CLI can print; unexpected ones are logged."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, f"Bad request: {error}" if error.status == 400 else str(error))
    except BlobNotFound as error:
        return error_response(404, str(error))
    except BoshPyError as error:
        return error_response(400, str(error))
    except (KeyError, ValueError) as error:  # a missing field, a malformed body or number
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        return error_response(400, f"Bad request: {detail}")
    except IntegrityError:
        return error_response(409, "Conflict: a concurrent request changed the same thing; try again")
    except web.HTTPException as error:  # aiohttp's own: no such route, method not allowed, ...
        if error.status < 400:
            raise
        return error_response(error.status, error.reason)
    except Exception:  # noqa: BLE001 - a bug, not the request's fault: say so, keep the detail in the log
        log.exception("Unexpected error serving %s %s", request.method, request.path)
        return error_response(500, "Internal error in the director (details are in its log)")


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(f"request body: not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise ApiError("request body: expected a JSON object")
    return body


def string_field(body: dict[str, Any], name: str, required: bool = True, default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is None:
        if required:
            raise ApiError(f"missing field '{name}'")
        return None
    if not isinstance(value, str):
        raise ApiError(f"{name}: expected a string")
    return value


def bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(f"{name}: expected true or false")
    return value


def int_field(body: dict[str, Any], name: str, default: int, minimum: int, maximum: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"{name}: expected an integer")
    if not minimum <= value <= maximum:
        raise ApiError(f"{name}: must be between {minimum} and {maximum}")
    return value


def int_query(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,20}", text):
        raise ApiError(f"{name}: expected an integer, got '{text[:40]}'")
    value = int(text)
    if not minimum <= value <= maximum:
        raise ApiError(f"{name}: must be between {minimum} and {maximum}")
    return value


def path_id(request: web.Request, name: str, what: str) -> int:
    """A numeric id from the path; one the DB could never hold is simply not found."""
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()):
        raise ApiError(f"{what} id: expected a number, got '{text[:40]}'")
    if len(text) > len(str(MAX_ID)) or not 1 <= int(text) <= MAX_ID:
        raise NotFound(f"{what.capitalize()} {text[:40]} not found")
    return int(text)
