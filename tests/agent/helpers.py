"""Test plumbing for the agent: a tiny blobstore HTTP server, tarball builders, the agent
as a real subprocess, and a director-side RPC helper. The real blobstore belongs to the
director; this one exists only so agent tests need nothing else."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Awaitable, Callable

import nats

from bosh_py.mbus.agent_client import AgentClient, ReplyRouter
from bosh_py.mbus.server import NatsServer
from cpi.dummy.agents import processes_working_in

REPO = Path(__file__).resolve().parents[2]
DIRECTOR_UUID = "test-director"




# --- blobstore ----------------------------------------------------------------------------

class TestBlobstore:
    """``GET|PUT|HEAD|DELETE /blobs/<id>`` with basic auth, files in a directory."""

    __test__ = False

    def __init__(self, directory: Path, user: str = "agent", password: str = "blob-secret"):
        self.directory = directory
        self.user, self.password = user, password
        self.requests: Counter[str] = Counter()
        directory.mkdir(parents=True, exist_ok=True)
        store = self
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _path(self) -> Path | None:
                if self.headers.get("Authorization") != expected:
                    self.send_error(401)
                    return None
                parts = self.path.split("/")
                if len(parts) != 3 or parts[1] != "blobs" or not parts[2] or parts[2].startswith("."):
                    self.send_error(404)
                    return None
                store.requests[self.command] += 1
                return store.directory / parts[2]

            def do_GET(self) -> None:
                path = self._path()
                if path is None:
                    return
                if not path.exists():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:
                path = self._path()
                if path is not None:
                    self.send_response(200 if path.exists() else 404)
                    self.end_headers()

            def do_PUT(self) -> None:
                path = self._path()
                if path is None:
                    return
                length = int(self.headers.get("Content-Length", "0"))
                path.write_bytes(self.rfile.read(length))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_DELETE(self) -> None:
                path = self._path()
                if path is not None:
                    path.unlink(missing_ok=True)
                    self.send_response(204)
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "TestBlobstore":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put_bytes(self, data: bytes) -> tuple[str, str]:
        blob_id = uuid.uuid4().hex
        (self.directory / blob_id).write_bytes(data)
        return blob_id, "sha256:" + hashlib.sha256(data).hexdigest()

    def read(self, blob_id: str) -> bytes:
        return (self.directory / blob_id).read_bytes()


def make_tgz(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """A tar.gz from ``{path: content}``; paths ending in "/" are directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = int(time.time())
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                continue
            data = content.encode() if isinstance(content, str) else content
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o755 if "/bin/" in f"/{name}" or name.endswith(".sh") else 0o644)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_tgz(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar:
            if m.isfile():
                out[m.name.removeprefix("./")] = tar.extractfile(m).read()
    return out


# --- the agent as a subprocess ------------------------------------------------------------

@dataclass
class AgentProcess:
    """One agent under a temporary root, talking to a real nats-server."""

    root: Path
    agent_id: str
    nats: NatsServer
    blobstore: TestBlobstore | None
    command: list[str] = field(default_factory=list)
    blobstore_settings: dict | None = None  # settings.json's "blobstore" (default: the TestBlobstore's)
    heartbeat_interval: float = 1.0
    proc: subprocess.Popen | None = None

    @property
    def settings_path(self) -> Path:
        return self.root / "var/vcap/bosh/settings.json"

    def write_settings(self) -> None:
        password = uuid.uuid4().hex
        self.nats.add_agent(self.agent_id, password)
        settings = {
            "agent_id": self.agent_id,
            "mbus": self.nats.agent_url(self.agent_id, password),
            "blobstore": self.blobstore_settings or {"url": self.blobstore.url, "user": self.blobstore.user,
                                                     "password": self.blobstore.password},
            "heartbeat_interval": self.heartbeat_interval,
            "vm": {"cid": f"vm-{self.agent_id}", "name": f"vm-{self.agent_id}"},
            "env": {},
            "stop_timeout": 5,
        }
        self.settings_path.parent.mkdir(parents=True, exist_ok=True)
        self.settings_path.write_text(json.dumps(settings))

    def start(self) -> "AgentProcess":
        if not self.settings_path.exists():
            self.write_settings()
        cmd = self.command or [sys.executable, "-m", "bosh_py.agent"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BOSH_PY_AGENT_ROOT": str(self.root),
               "PYTHONPATH": str(REPO)}
        out = open(self.root.parent / f"agent-{self.agent_id}.out", "ab")
        self.proc = subprocess.Popen([*cmd, "--settings", str(self.settings_path)], env=env,
                                     stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=str(self.root.parent))
        out.close()
        return self

    def stop(self) -> None:
        """End the agent (by its PID) and every job process it left (by their PID files)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill_jobs(self) -> None:
        """Job processes by their PID files, and any process still working in this root
        (job processes run with the root as their working directory)."""
        pids = set()
        run_dir = self.root / "var/vcap/data/sys/run"
        for pid_file in run_dir.glob("*/*.pid") if run_dir.exists() else []:
            try:
                pids.add(int(pid_file.read_text()))
            except (ValueError, OSError):
                pass
        pids |= processes_working_in(self.root)
        for pid in pids:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def log_text(self) -> str:
        path = self.root / "var/vcap/bosh/log/current"
        return path.read_text() if path.exists() else ""


def with_client(nats_server: NatsServer, agent_id: str,
                fn: Callable[[AgentClient, Any], Awaitable[Any]], timeout: float = 30.0,
                grants: Any = None) -> Any:
    """Run ``fn(client, nc)`` as the director would, on a fresh connection (``grants``: the
    director's BlobGrants, filled as the client sends messages)."""
    async def main() -> Any:
        nc = await nats.connect(**nats_server.director_connect_options())
        try:
            router = ReplyRouter(nc, DIRECTOR_UUID, grants=grants)
            return await fn(router.client(agent_id, timeout=timeout), nc)
        finally:
            await nc.close()
    return asyncio.run(main())


async def poll(fn: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 15.0,
               interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if ok(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)
