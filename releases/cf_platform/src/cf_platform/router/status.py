"""gorouter's status port: ``/health`` (open) and ``/routes``, ``/varz`` (basic auth).

Why a separate port served by the control plane: load balancers probe ``/health`` without
credentials, while the routes table (which apps run where) is for operators only; and only
the control plane knows the table. A tiny asyncio HTTP/1.1 server (stdlib only) is plenty
for a handful of requests a second.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
from typing import Any, Callable

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            400: "Bad Request", 503: "Service Unavailable"}


class StatusServer:
    """Serves the router's health and tables; ``unhealthy``/``routes``/``varz`` are callbacks
    so the server holds no state of its own. ``unhealthy`` returns None when the router
    should get traffic, else why not (the 503 body: "draining", "nginx is not running")."""

    def __init__(self, host: str, port: int, user: str | None, password: str | None,
                 unhealthy: Callable[[], str | None], routes: Callable[[], Any],
                 varz: Callable[[], dict[str, Any]]) -> None:
        self.host, self.port = host, port
        self._credentials = (user, password) if user and password else None
        self.unhealthy, self.routes, self.varz = unhealthy, routes, varz
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        log.info("status server on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                        ConnectionError):
                    return
                keep_alive = await self._respond(head.decode("latin-1"), writer)
                await writer.drain()
                if not keep_alive:
                    return
        finally:
            writer.close()

    async def _respond(self, head: str, writer: asyncio.StreamWriter) -> bool:
        lines = head.split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._write(writer, 400, b"bad request\n", keep_alive=False)
            return False
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "content-length" in headers and headers["content-length"] not in ("", "0"):
            keep_alive = False  # bodies are not expected here; do not try to skip them
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            self._write(writer, 405, b"method not allowed\n", keep_alive, head_only=False)
        elif path in ("/health", "/healthz"):
            problem = self.unhealthy()
            self._write(writer, 503 if problem else 200, (problem or "ok").encode() + b"\n",
                        keep_alive, head_only=method == "HEAD")
        elif path in ("/routes", "/varz"):
            if not self._authorized(headers.get("authorization", "")):
                self._write(writer, 401, b"401 Unauthorized\n", keep_alive,
                            extra={"WWW-Authenticate": 'Basic realm="cf-router"'})
            else:
                body = self.routes() if path == "/routes" else self.varz()
                self._write(writer, 200, json.dumps(body).encode() + b"\n", keep_alive,
                            head_only=method == "HEAD", content_type="application/json")
        else:
            self._write(writer, 404, b"404 Not Found\n", keep_alive)
        return keep_alive

    def _authorized(self, header: str) -> bool:
        """Basic auth; without configured credentials the tables are not served at all."""
        if self._credentials is None:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        good_user = hmac.compare_digest(user.encode(), self._credentials[0].encode())
        good_password = hmac.compare_digest(password.encode(), self._credentials[1].encode())
        return good_user and good_password

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, body: bytes, keep_alive: bool,
               head_only: bool = False, content_type: str = "text/plain; charset=utf-8",
               extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)),
                   "Connection": "keep-alive" if keep_alive else "close", **(extra or {})}
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + (b"" if head_only else body))
