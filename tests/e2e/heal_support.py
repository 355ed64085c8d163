"""Helpers for the healing tests: kill a VM the way a host failure would, ask a job over
HTTP whether it answers, and a local webhook receiver the director's alerts go to."""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.harness import LocalDirector


def kill_keeper(director: LocalDirector, vm_cid: str) -> int:
    """SIGKILL the process group of the VM's keeper (the local CPI's parent of the VM's
    init), as `kill -9` of a VM's host process: the VM dies, its CPI record stays."""
    pid = int((director.root / "cpi" / "vms" / vm_cid / "keeper.pid").read_text().split()[0])
    os.killpg(pid, signal.SIGKILL)
    return pid


def answers(ip: str, port: int = 8080) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/index.html", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class AlertReceiver:
    """A webhook endpoint on 127.0.0.1 keeping each alert it receives (and its headers)."""

    def __init__(self) -> None:
        self.alerts: list[dict] = []
        self.headers: list[dict] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.alerts.append(json.loads(body))
                received.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts/t0k3n"

    def __enter__(self) -> "AlertReceiver":  # noqa: UP037, PYI034 - returns self
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def actions(self, deployment: str) -> list[str]:
        return [a["action"] for a in list(self.alerts) if a.get("deployment") == deployment]


def director_log(director: LocalDirector) -> str:
    path: Path = director.data_dir / "director.log"
    return path.read_text(errors="replace") if path.exists() else ""
