"""The UAA's HTTP layer on ``http.server``: routes, form/JSON bodies, OAuth2 JSON errors.

Logs carry method, path (no query string: SCIM filters name users) and status, never a
header or a body, so no token, secret or password reaches the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import errors

log = logging.getLogger("uaa")
MAX_BODY = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    raw: bytes
    params: dict[str, str] = field(default_factory=dict)

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body (a repeated key is refused)."""
        try:
            parsed = parse_qs(self.raw.decode(), keep_blank_values=True, strict_parsing=bool(self.raw))
        except (ValueError, UnicodeDecodeError):
            raise errors.invalid_request("The body is not a form") from None
        for key, values in parsed.items():
            if len(values) > 1:
                raise errors.invalid_request(f"Parameter {key} given more than once")
        return {k: v[0] for k, v in parsed.items()}

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.raw or b"{}")
        except ValueError:
            raise errors.invalid_request("The body is not JSON") from None
        if not isinstance(value, dict):
            raise errors.invalid_request("The body must be a JSON object")
        return value

    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        return (unquote(user), unquote(secret)) if sep else None

    def bearer(self) -> str:
        scheme, _, value = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise errors.OAuthError(401, "unauthorized", "Full authentication is required to access this resource",
                                    {"WWW-Authenticate": 'Bearer realm="UAA", error="unauthorized"'})
        return value.strip()


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """``pattern`` like ``/Users/<id>``; ``<name>`` matches one path segment."""
        regex = re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}/?$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for m, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                if m == method:
                    return handler, found.groupdict()
                allowed = True
        if allowed:
            raise errors.OAuthError(405, "method_not_allowed", f"{method} is not allowed on {path}")
        raise errors.OAuthError(404, "not_found", f"No resource at {path}")


def make_server(bind: str, port: int, router: Router, io_timeout: float) -> ThreadingHTTPServer:
    class UaaHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cf-py-uaa"
        timeout = io_timeout

        def log_message(self, fmt: str, *args: Any) -> None:  # http.server's own lines carry the query
            pass

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            try:
                response = self._respond(parts.path, parts.query)
            except errors.OAuthError as e:
                response = Response(e.status, e.body(), e.headers)
            except Exception:
                log.exception("%s %s failed", self.command, parts.path)
                response = Response(500, {"error": "server_error", "error_description": "Internal error"})
            self._send(response)
            log.info("%s %s -> %d", self.command, parts.path, response.status)

        def _respond(self, path: str, query: str) -> Response:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.close_connection = True
                raise errors.invalid_request(f"The body must have a Content-Length of at most {MAX_BODY} bytes")
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                raise errors.invalid_request("Chunked bodies are not supported; send a Content-Length")
            raw = self.rfile.read(length) if length else b""
            handler, params = router.match(self.command, path)
            return handler(Request(self.command, path, parse_qs(query), self.headers, raw, params))

        def _send(self, response: Response) -> None:
            data = b"" if response.body is None else json.dumps(response.body).encode()
            self.send_response(response.status)
            headers = {"Content-Type": "application/json;charset=UTF-8", "Cache-Control": "no-store",
                       "Pragma": "no-cache", **response.headers, "Content-Length": str(len(data))}
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    return Server((bind, port), UaaHandler)
