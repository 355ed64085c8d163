"""A small router on top of ``http.server``: regex routes, JSON in and out, errors as v2 JSON.

The CC has no framework on its VMs (stdlib only), so this is the part of one it needs:
match ``(method, path)``, hand the handler a :class:`Request`, render a :class:`Response`
(JSON, bytes, or a file streamed from the blobstore).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, Callable
from urllib.parse import parse_qs, urlsplit

from . import errors
from .blobs import Blobstore
from .connection_guard import ConnectionGuard

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any                      # http.client.HTTPMessage (case-insensitive get)
    body_stream: BinaryIO
    content_length: int
    params: dict[str, str] = field(default_factory=dict)
    _body: bytes | None = None
    identity: Any = None              # auth.Identity once a bearer token was checked

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def body(self, limit: int = 16 * 1024 * 1024) -> bytes:
        if self._body is None:
            if self.content_length > limit:
                raise errors.payload_too_large(limit // (1024 * 1024))
            self._body = self.body_stream.read(self.content_length) if self.content_length else b""
        return self._body

    def json(self) -> dict:
        raw = self.body()
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise errors.message_parse_error(str(e)) from None
        if not isinstance(value, dict):
            raise errors.message_parse_error("expected a JSON object")
        return value

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int = 200
    body: Any = None                  # JSON-able, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None          # streamed instead of body

    @classmethod
    def json(cls, value: Any, status: int = 200) -> "Response":
        return cls(status, value)


Handler = Callable[[Request], Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """``pattern`` like ``/v2/apps/<guid>/bits``; ``<name>`` matches one path segment."""
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
            raise errors.ApiError(405, 10000, "CF-NotFound", f"Method {method} is not allowed on {path}")
        raise errors.not_found(f"Unknown request: {method} {path}")


_REFUSAL_BODY = json.dumps({"code": 10015, "description": "too many connections",
                            "error_code": "CF-ServiceUnavailable"}).encode()
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json;charset=utf-8\r\n"
            b"Retry-After: 1\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(_REFUSAL_BODY)) + _REFUSAL_BODY


class GuardedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, within the bounds of a :class:`ConnectionGuard`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 guard: ConnectionGuard) -> None:
        self.guard = guard
        super().__init__(address, handler)
        guard.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.guard.admit(request):
            log.warning("refusing a connection from %s: %d connections busy", client_address[0],
                        self.guard.max_connections)
            try:
                request.settimeout(1.0)
                request.sendall(_REFUSAL)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.guard.release(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self.guard.stop()


def make_server(bind: str, port: int, router: Router, header_timeout: float = 10.0,
                io_timeout: float = 60.0, max_connections: int = 256,
                on_response: Callable[[int], None] = lambda _status: None) -> GuardedHTTPServer:
    """The CC's HTTP server: a request's headers are due within ``header_timeout`` (from the
    accept or the previous response), each socket read or write within ``io_timeout``, and
    at most ``max_connections`` connections are held (connection_guard.py). ``on_response``
    sees each response's status (the /varz counters)."""
    guard = ConnectionGuard(header_timeout, max_connections)

    class CcHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cf-py-cloud-controller"
        timeout = io_timeout          # socket timeout of every read and write

        def log_message(self, fmt: str, *args: Any) -> None:  # route http.server's log to logging
            log.debug("%s " + fmt, self.address_string(), *args)

        def _dispatch(self) -> None:
            guard.busy(self.connection)
            try:
                self._handle()
            finally:
                guard.waiting(self.connection)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            request = Request(self.command, parts.path, parse_qs(parts.query), self.headers, self.rfile, max(length, 0))
            try:
                if length < 0:
                    raise errors.invalid_request("bad Content-Length")
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    raise errors.ApiError(411, 10004, "CF-InvalidRequest", "chunked bodies are not supported; "
                                          "send a Content-Length")
                handler, params = router.match(self.command, parts.path)
                request.params = params
                response = handler(request)
            except errors.ApiError as e:
                response = Response.json(e.body(), e.status)
                response.headers.update(e.headers)
            except Exception:
                log.exception("%s %s failed", self.command, parts.path)
                response = Response.json(errors.server_error().body(), 500)
            # whatever the handler did not read must not be taken for the next request
            if request._body is None and request.content_length and response.status >= 400:
                self.close_connection = True
            self._send(response)
            on_response(response.status)
            log.info("%s %s -> %d", self.command, parts.path, response.status)

        def _send(self, response: Response) -> None:
            headers = dict(response.headers)
            if response.file is not None:
                size = response.file.stat().st_size
                self.send_response(response.status)
                headers.setdefault("Content-Type", "application/octet-stream")
                headers["Content-Length"] = str(size)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    Blobstore.stream(response.file, self.wfile.write)
                return
            if response.body is None:
                data = b""
            elif isinstance(response.body, bytes):
                data = response.body
            else:
                data = json.dumps(response.body).encode()
                headers.setdefault("Content-Type", "application/json;charset=utf-8")
            self.send_response(response.status)
            headers["Content-Length"] = str(len(data))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    return GuardedHTTPServer((bind, port), CcHandler, guard)
