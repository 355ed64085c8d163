"""Test support for the log server: the real server process, a syslog receiver (127.0.0.x),
and the cloud controller started with a ``logging_endpoint`` that points at it."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cf.cc.plumbing import CcProcess, Nats, end_process, start_cc, vm_python
from tests.harness import free_port, wait_until

CF_PY = Path(sys.executable).parent / "cf-py"
SENDERS = {"dea": ["APP", "STG", "DEA"], "router": ["RTR"], "hm": ["HM"]}


@dataclass
class LogServerProcess:
    url: str
    port: int
    config: dict
    proc: subprocess.Popen
    log_path: Path

    def sender_auth(self, user: str) -> tuple[str, str]:
        return user, self.config["senders"][user]["password"]

    def emitter_settings(self, user: str = "dea") -> dict[str, str]:
        return {"url": self.url, "user": user, "password": self.config["senders"][user]["password"]}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_log_server(workdir: Path, cc_url: str, port: int | None = None, **overrides: Any) -> LogServerProcess:
    """As the job runs it: ``python3 -S -m cf_platform.log_server`` with only cf_platform on the path."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = {"listen_address": "127.0.0.1", "port": port, "cloud_controller": {"url": cc_url},
              "senders": {user: {"password": secrets.token_urlsafe(12), "sources": sources}
                          for user, sources in SENDERS.items()},
              "log_level": "debug", **overrides}
    path = workdir / "log_server.json"
    path.write_text(json.dumps(config))
    log_path = workdir / "log_server.log"
    python, env = vm_python(workdir)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([*python, "-m", "cf_platform.log_server", "--config", str(path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    host = config["listen_address"]
    status = config.get("status") or {}
    try:
        wait_until(lambda: proc.poll() is not None or _listening(host, port), timeout=15,
                   message=f"the log server to listen on {host}:{port}")
        if status.get("port"):   # the status port opens right after the main one
            wait_until(lambda: proc.poll() is not None or _listening(status["listen_address"], status["port"]),
                       timeout=15, message="the log server's status port")
        assert proc.poll() is None, f"the log server exited with {proc.returncode}: {log_path.read_text()}"
    except BaseException:
        end_process(proc)
        raise
    return LogServerProcess(f"http://{host}:{port}", port, config, proc, log_path)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def start_cc_with_logs(workdir: Path, nats_: Nats, log_port: int, **overrides: Any) -> CcProcess:
    return start_cc(workdir, nats_, logging_endpoint=f"http://127.0.0.1:{log_port}", **overrides)


def create_app(cc: CcProcess, auth: dict[str, str], name: str) -> str:
    r = httpx.post(cc.url + "/v2/apps", json={"name": name}, headers=auth)
    r.raise_for_status()
    return r.json()["metadata"]["guid"]


def post_lines(server: LogServerProcess, user: str, lines: list[dict], password: str | None = None) -> httpx.Response:
    body = "".join(json.dumps(line) + "\n" for line in lines)
    auth = (user, password if password is not None else server.config["senders"][user]["password"])
    return httpx.post(server.url + "/v1/lines", content=body, auth=auth)


#: a line as the cf CLI prints it: 2026-12-01T03:00:00.00+0000 [APP/0] OUT hello
CF_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d[+-]\d{4} \[(\w+)/(\d+)\] (OUT|ERR) (.*)$")


@dataclass
class SyslogReceiver:
    """A TCP syslog server on ``host`` (127.0.0.1) that parses octet-counted (RFC 6587) frames.

    The log server refuses drains to loopback unless its config exempts an address
    (``drain_allowed_ranges``); tests bind to 127.0.0.2 and exempt only that."""

    host: str = "127.0.0.1"
    messages: list[str] = field(default_factory=list)
    port: int = 0
    accepted: int = 0       # connections the log server opened

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind((self.host, 0))
        self._sock.listen(4)
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"syslog://{self.host}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.accepted += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b" " in buffer:
                length, _, rest = buffer.partition(b" ")
                if len(rest) < int(length):
                    break
                with self._lock:
                    self.messages.append(rest[: int(length)].decode())
                buffer = rest[int(length):]

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for message in self.messages:
                    if needle in message:
                        return message
            time.sleep(0.05)
        raise AssertionError(f"no syslog message with {needle!r}; got {self.messages[-5:]}")

    def close(self) -> None:
        self._sock.close()
        for conn in self._conns:
            conn.close()


@dataclass
class CfPy:
    """The installed ``cf-py`` with its own config file (CF_PY_CONFIG) and HOME."""

    config: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "CF_PY_CONFIG": str(self.config), "COLUMNS": "200", "TERM": "dumb"}

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(CF_PY), *args], capture_output=True, text=True, env=self.env(), timeout=timeout,
                              check=False)

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"cf-py {' '.join(args)}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def follow(self, *args: str) -> subprocess.Popen:
        """``cf-py logs APP`` left running: read its stdout, end it with SIGINT (Ctrl-C)."""
        return subprocess.Popen([str(CF_PY), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), bufsize=1)
