"""A broker that answers what a test scripts (status, body, delay) and records what it was
asked: it stands for a third-party broker that misbehaves, so the CC's handling of bad
answers can be seen. Binds 127.0.0.1 in the test process; stopped by the fixture."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID_CATALOG = {"services": [{"id": "svc-1", "name": "scripted", "description": "a scripted service",
                               "bindable": True, "tags": ["test"],
                               "plans": [{"id": "plan-1", "name": "small", "description": "small plan"}]}]}


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)      # JSON-able, or bytes sent as they are
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedBroker:
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)   # (method, path prefix) -> answer
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        broker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                broker.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": json.loads(body) if body else None})
                answer = broker.answer_for(self.command, self.path)
                if answer.delay:
                    time.sleep(answer.delay)
                data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_PUT = do_DELETE = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer_for(self, method: str, path: str) -> Answer:
        best = None
        for (m, prefix), answer in self.answers.items():
            if m == method and path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, answer)
        return best[1] if best else Answer(404, {"description": "not scripted"})

    def start(self) -> ScriptedBroker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
