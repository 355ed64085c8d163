"""The log server's HTTP side (stdlib ``ThreadingHTTPServer``, one thread per connection).

- ``POST /v1/lines`` (basic auth of a sender): newline-delimited JSON lines (log_line.py);
  every line must be well formed and of a source type the sender may claim, or the whole
  batch is refused (400/403, naming the line). Accepted lines go to the recent buffer, the
  live followers and the drains, none of which can block the sender.
- ``GET /v1/apps/<guid>/recent`` (bearer token the CC accepts for the app): the buffer, NDJSON.
- ``GET /v1/apps/<guid>/stream`` (same): live NDJSON until the client leaves; an empty line
  every ``HEARTBEAT`` seconds finds dead clients; the token is re-checked every
  ``reauthorize_interval`` so a revoked or expired one stops the stream.
- ``GET /healthz`` (open) and ``GET /varz`` (a sender's basic auth): counters. CF v1's status
  port (its own port and credentials, announced on NATS) is status.py's.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .config import LogServerConfig
from .follower_auth import CcAuthorizer
from .followers import FollowerHub
from .log_line import BadLine, LogLine, parse_line
from .recent import RecentBuffer
from .sender_auth import sender_for
from .syslog_drain import DrainRouter

log = logging.getLogger(__name__)

HEARTBEAT = 15.0
APP_PATH = re.compile(r"^/v1/apps/([A-Za-z0-9_.-]{1,64})/(recent|stream)$")


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, but at most ``max_connections`` at once: more are closed at
    once (counted), so a flood of idle connections cannot make threads without end."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class LogServer:
    """Everything the handlers share: buffer, followers, drains, counters."""

    def __init__(self, config: LogServerConfig, authorizer: CcAuthorizer | None = None) -> None:
        self.config = config
        self.recent = RecentBuffer(config.recent_lines, config.max_apps)
        self.hub = FollowerHub(config.max_followers, config.follower_queue)
        self.drains = DrainRouter(config.drain_queue, config.drain_policy)
        self.authorizer = authorizer or CcAuthorizer(config.cc_url, config.cc_timeout, config.auth_cache_seconds)
        self.started = time.time()
        self._lock = threading.Lock()
        self.received = 0
        self.refused_batches = 0
        self.accepted_batches = 0
        self.senders_connected = 0      # connections that posted lines as a sender and are still open
        self.follower_lines_out = 0     # lines written to live followers
        self.httpd: BoundedHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    def accept(self, lines: list[LogLine]) -> None:
        for line in lines:
            self.recent.add(line)
            self.hub.publish(line)
            self.drains.publish(line)
        with self._lock:
            self.received += len(lines)
            self.accepted_batches += 1

    def count(self, **changes: int) -> None:
        """Add to the counters the request threads share (``senders_connected=1``, ...)."""
        with self._lock:
            for name, change in changes.items():
                setattr(self, name, getattr(self, name) + change)

    def serving(self) -> bool:
        return self._http_thread is not None and self._http_thread.is_alive()

    def counters(self) -> dict[str, Any]:
        drains = self.drains.counters()
        return {"type": "LogServer", "uptime_seconds": round(time.time() - self.started, 1),
                "lines_received": self.received, "batches_refused": self.refused_batches,
                "apps_buffered": self.recent.app_count(), "followers": self.hub.count(),
                "follower_lines_dropped": self.hub.dropped, "syslog_drains": drains,
                "syslog_drains_refused": drains["refused"],
                "connections_refused": self.httpd.refused if self.httpd is not None else 0}

    def serve(self) -> BoundedHTTPServer:
        """Bind and serve on a daemon thread; :meth:`shutdown` stops it."""
        handler = type("Handler", (LogHandler,), {"server_state": self})
        self.httpd = BoundedHTTPServer((self.config.listen_address, self.config.port), handler,
                                       self.config.max_followers + self.config.max_senders)
        self._http_thread = threading.Thread(target=self.httpd.serve_forever, name="log-server-http", daemon=True)
        self._http_thread.start()
        log.info("log server on %s:%d", self.config.listen_address, self.httpd.server_address[1])
        log.info("syslog drains may not reach %s (except %s)", ", ".join(self.config.drain_policy.describe()["blocked"]),
                 ", ".join(self.config.drain_policy.describe()["allowed"]) or "none")
        return self.httpd

    def shutdown(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


class LogHandler(BaseHTTPRequestHandler):
    server_state: LogServer
    protocol_version = "HTTP/1.1"
    timeout = 30            # seconds a read or write may stall (slow clients, slowloris)
    server_version = "cf-log-server"

    is_sender = False       # this connection posted lines as a sender: counted while it stays open

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.is_sender:
                self.is_sender = False
                self.server_state.count(senders_connected=-1)

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, description: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": description}).encode() + b"\n", extra=extra)

    # -- routes -----------------------------------------------------------------------------

    def do_POST(self) -> None:
        if self.path != "/v1/lines":
            self.close_connection = True
            return self._error(404, f"no such endpoint: POST {self.path}")
        state = self.server_state
        found = sender_for(self.headers.get("Authorization"), state.config.senders)
        if found is None:
            self.close_connection = True
            return self._error(401, "a sender's basic auth is required",
                               {"WWW-Authenticate": 'Basic realm="log_server"'})
        user, sender = found
        if not self.is_sender:
            self.is_sender = True
            state.count(senders_connected=1)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            return self._error(411, "Content-Length is required")
        if length < 0 or length > state.config.max_batch_bytes:
            self.close_connection = True
            return self._error(413, f"a batch may hold at most {state.config.max_batch_bytes} bytes")
        body = self.rfile.read(length)
        lines: list[LogLine] = []
        for number, raw in enumerate(body.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = parse_line(json.loads(raw), f"line {number}")
            except (BadLine, ValueError) as error:
                state.refused_batches += 1
                return self._error(400, str(error) if isinstance(error, BadLine) else f"line {number}: not JSON")
            if line.source not in sender.sources:
                state.refused_batches += 1
                log.warning("sender %s tried to send %s lines (may send %s)", user, line.source,
                            ", ".join(sorted(sender.sources)))
                return self._error(403, f"line {number}: sender {user} may not send {line.source} lines")
            lines.append(line)
        state.accept(lines)
        self._send(200, json.dumps({"accepted": len(lines)}).encode() + b"\n")

    def do_GET(self) -> None:
        state = self.server_state
        if self.path == "/healthz":
            return self._send(200, b"ok\n", "text/plain; charset=utf-8")
        if self.path == "/varz":
            if sender_for(self.headers.get("Authorization"), state.config.senders) is None:
                return self._error(401, "basic auth required", {"WWW-Authenticate": 'Basic realm="log_server"'})
            return self._send(200, json.dumps(state.counters()).encode() + b"\n")
        match = APP_PATH.match(self.path.split("?", 1)[0])
        if match is None:
            return self._error(404, f"no such endpoint: GET {self.path}")
        app, what = match.groups()
        authorization = self.headers.get("Authorization")
        verdict = state.authorizer.check(authorization, app)
        if not verdict.allowed:
            return self._error(verdict.status, verdict.reason)
        if what == "recent":
            body = b"".join(json.dumps(line.to_json()).encode() + b"\n" for line in state.recent.recent(app))
            return self._send(200, body, "application/x-ndjson")
        self._stream(app, authorization or "")

    def _stream(self, app: str, authorization: str) -> None:
        state = self.server_state
        follower = state.hub.join(app)
        if follower is None:
            return self._error(503, "too many followers; try again later")
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")     # the body ends when the stream does
            self.end_headers()
            self.wfile.flush()
            last_write = last_check = time.monotonic()
            reported = 0
            while True:
                try:
                    line = follower.lines.get(timeout=1.0)
                except queue.Empty:
                    line = None
                now = time.monotonic()
                if now - last_check >= state.config.reauthorize_interval:
                    last_check = now
                    verdict = state.authorizer.check(authorization, app, use_cache=False)
                    if not verdict.allowed and verdict.status != 502:   # the CC down is not a refusal
                        self.wfile.write(json.dumps({"error": verdict.reason}).encode() + b"\n")
                        return
                chunk = b""
                if follower.dropped > reported:
                    chunk += json.dumps({"dropped": follower.dropped - reported}).encode() + b"\n"
                    reported = follower.dropped
                if line is not None:
                    chunk += json.dumps(line.to_json()).encode() + b"\n"
                elif now - last_write >= HEARTBEAT:
                    chunk += b"\n"
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    last_write = now
                    if line is not None:
                        state.count(follower_lines_out=1)
        except OSError:
            return      # the follower left
        finally:
            state.hub.leave(follower)
