"""Real processes for the cloud controller's tests: nats-server, the CC itself, and a
small DEA stand-in on NATS that follows releases/cf_platform/README.md's contract (it answers
dea.discover, stages by fetching bits over HTTP and PUTting a droplet, records
dea.<id>.start and dea.stop, and answers dea.find.droplet for the instances it "runs").

The DEA stand-in replaces another component of the system, never the CC under test.
Everything binds 127.0.0.1 and every process is ended by its PID.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import nats


from tests.harness import free_port
REPO = Path(__file__).resolve().parents[3]
NATS_SERVER = Path(sys.executable).parent / "nats-server"
SRC = REPO / "releases" / "cf_platform" / "src"




def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def end_process(proc: subprocess.Popen) -> None:
    """SIGTERM by PID, SIGKILL after 5 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


@dataclass
class Nats:
    port: int
    user: str
    password: str
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def start_nats(workdir: Path) -> Nats:
    port = free_port()
    user, password = "nats", secrets.token_urlsafe(12)
    log = open(workdir / "nats-server.log", "ab")
    proc = subprocess.Popen([str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(port), "--user", user,
                             "--pass", password], stdout=log, stderr=log)
    wait_port(port, proc=proc)
    return Nats(port, user, password, proc)


@dataclass
class CcProcess:
    url: str
    port: int
    config: dict
    config_path: Path
    proc: subprocess.Popen
    log_path: Path

    @property
    def internal_auth(self) -> tuple[str, str]:
        return self.config["internal_api"]["user"], self.config["internal_api"]["password"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def cc_config(workdir: Path, nats_: Nats, port: int, **overrides: Any) -> dict:
    config = {
        "port": port, "bind": "127.0.0.1", "external_host": "127.0.0.1", "domain": "apps.test",
        "users": {"admin": "admin-secret"}, "token_secret": secrets.token_hex(16),
        "internal_api": {"user": "internal", "password": "internal-secret"},
        "data_dir": str(workdir / "store"), "staging_timeout": 10, "discover_timeout": 0.5,
        "find_timeout": 0.3, "log_level": "DEBUG",
        "nats": {"servers": [nats_.url], "user": nats_.user, "password": nats_.password},
    }
    config.update(overrides)
    return config


def vm_python(workdir: Path) -> tuple[list[str], dict[str, str]]:
    """The interpreter command and environment of a component as on a VM: no site-packages
    (``-S``), only cf_platform and nats-py on PYTHONPATH (as packages/cf-platform installs them)."""
    lib = workdir / "vendored"
    lib.mkdir(parents=True, exist_ok=True)
    link = lib / "nats"
    if not link.exists():
        link.symlink_to(Path(nats.__file__).parent, target_is_directory=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": f"{SRC}:{lib}"}
    return [sys.executable, "-S"], env


def start_cc(workdir: Path, nats_: Nats, **overrides: Any) -> CcProcess:
    """The cloud controller as its job runs it: ``python3 -m cf_platform.cloud_controller``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = overrides.pop("port", None) or free_port()
    config = cc_config(workdir, nats_, port, **overrides)
    path = workdir / "cc.json"
    path.write_text(json.dumps(config))
    log_path = workdir / "cc.log"
    log = open(log_path, "ab")
    python, env = vm_python(workdir)
    proc = subprocess.Popen([*python, "-m", "cf_platform.cloud_controller", "--config", str(path)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_port(port, proc=proc)
    return CcProcess(f"http://127.0.0.1:{port}", port, config, path, proc, log_path)


@dataclass
class HmProcess:
    config: dict
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_hm(workdir: Path, nats_: Nats, cc: CcProcess, **overrides: Any) -> HmProcess:
    """The health manager as its job runs it, with test-sized intervals."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"nats": {"servers": [nats_.url], "user": nats_.user, "password": nats_.password},
              "cc": {"url": cc.url, "user": cc.internal_auth[0], "password": cc.internal_auth[1]},
              "poll_interval": 0.2, "heartbeat_interval": 0.2, "missing_after": 3, "decide_interval": 0.1,
              "crash_backoff": {"immediate": 3, "base": 1, "max": 4, "reset_after": 60}, "log_level": "DEBUG"}
    config.update(overrides)
    path = workdir / "hm.json"
    path.write_text(json.dumps(config))
    log_path = workdir / "hm.log"
    python, env = vm_python(workdir)
    proc = subprocess.Popen([*python, "-m", "cf_platform.health_manager", "--config", str(path)],
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, env=env)
    hm = HmProcess(config, proc, log_path)
    try:
        eventually(lambda: proc.poll() is None and log_path.exists() and "health manager up" in hm.log(), timeout=15)
    except AssertionError:
        end_process(proc)
        raise RuntimeError("the health manager did not come up:\n" + hm.log()) from None
    return hm


def login(cc: CcProcess) -> dict[str, str]:
    import httpx
    r = httpx.post(cc.url + "/oauth/token", data={"grant_type": "password", "username": "admin",
                                                  "password": "admin-secret"})
    r.raise_for_status()
    return {"Authorization": f"bearer {r.json()['access_token']}"}


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except AssertionError as e:
            last = e
        time.sleep(interval)
    if last:
        raise last
    raise AssertionError(f"condition not met within {timeout}s")


# -- the DEA stand-in ------------------------------------------------------------------------

def _http(method: str, url: str, data: bytes | None = None) -> bytes:
    """urllib does not use credentials embedded in a URL; pass them as basic auth."""
    parts = urlsplit(url)
    bare = parts._replace(netloc=f"{parts.hostname}:{parts.port}").geturl()
    request = urllib.request.Request(bare, data=data, method=method)
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(creds).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


@dataclass
class Instance:
    droplet: str
    version: str
    index: int
    instance: str
    state: str
    since: float
    port: int
    name: str
    mem_quota: int = 0        # bytes: from the start message's limits.mem, as a real DEA sets it
    usage_mem: int = 0        # bytes: drawn per instance, so a test can tell whose stats it sees

    def log_line(self) -> str:
        return f"hello from {self.name} index {self.index} instance {self.instance}\n"


@dataclass
class DeaStandIn:
    """Follows the README contract; records what it was asked. Staging "detects" an app by a
    file named ``app.py`` (else fails like a DEA whose buildpacks detect nothing).

    What it reports is derived from what it was sent (the memory quota from the start
    message's limits, the staging log naming the app) or drawn per instance and recorded (the
    memory in use, the port, the instance id in its log lines), never a constant a test could
    match without the cloud controller carrying it through."""
    nats_: Nats
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    running_state: str = "RUNNING"       # what a started instance reports
    starts: list[dict] = field(default_factory=list)
    stops: list[dict] = field(default_factory=list)
    stagings: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    instances: dict[str, Instance] = field(default_factory=dict)
    crashed: list[str] = field(default_factory=list)   # ids of the instances crash() crashed
    fail_droplet_fetch: bool = False
    heartbeat_interval: float | None = None   # publish dea.heartbeat this often (None: never)
    crash_on_start: str | None = None         # instances crash at once with this exit description

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> "DeaStandIn":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._connect(), self._loop).result(10)
        return self

    def stop(self) -> None:
        try:
            if getattr(self, "_heartbeats", None) is not None:
                self._loop.call_soon_threadsafe(self._heartbeats.cancel)
            asyncio.run_coroutine_threadsafe(self._nc.close(), self._loop).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def publish(self, subject: str, payload: dict) -> None:
        asyncio.run_coroutine_threadsafe(self._nc.publish(subject, json.dumps(payload).encode()),
                                         self._loop).result(5)
        asyncio.run_coroutine_threadsafe(self._nc.flush(), self._loop).result(5)

    def crash(self, instance_id: str, description: str = "app exited with status 1") -> None:
        with self._lock:
            inst = self.instances[instance_id]
            inst.state = "CRASHED"
            inst.since = time.time()
            self.crashed.append(instance_id)
        self.publish("droplet.exited", {"droplet": inst.droplet, "version": inst.version,
                                        "instance": inst.instance, "index": inst.index, "reason": "CRASHED",
                                        "exit_status": 1, "exit_description": description,
                                        "crash_timestamp": time.time()})

    def live(self, droplet: str | None = None) -> list[Instance]:
        with self._lock:
            return [i for i in self.instances.values() if i.state in ("STARTING", "RUNNING")
                    and (droplet is None or i.droplet == droplet)]

    async def _connect(self) -> None:
        self._nc = await nats.connect(self.nats_.url, user=self.nats_.user, password=self.nats_.password)
        await self._nc.subscribe("dea.discover", cb=self._discover)
        await self._nc.subscribe(f"staging.{self.id}.start", cb=self._stage)
        await self._nc.subscribe(f"dea.{self.id}.start", cb=self._start)
        await self._nc.subscribe("dea.stop", cb=self._stop)
        await self._nc.subscribe("dea.update", cb=self._update)
        await self._nc.subscribe("dea.find.droplet", cb=self._find)
        await self._nc.flush()
        if self.heartbeat_interval:
            self._heartbeats = asyncio.ensure_future(self._heartbeat_loop())

    def heartbeat_message(self) -> dict:
        with self._lock:
            return {"dea": self.id, "droplets": [
                {"droplet": i.droplet, "version": i.version, "instance": i.instance, "index": i.index,
                 "state": i.state, "state_timestamp": i.since} for i in self.instances.values()]}

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._nc.publish("dea.heartbeat", json.dumps(self.heartbeat_message()).encode())
            await asyncio.sleep(self.heartbeat_interval)

    def add_rogue(self, droplet: str, version: str, index: int) -> str:
        """An instance nobody asked for (what a partitioned DEA coming back may run)."""
        inst = Instance(droplet, version, index, uuid.uuid4().hex, "RUNNING", time.time(), free_port(), "rogue")
        with self._lock:
            self.instances[inst.instance] = inst
        return inst.instance

    async def _discover(self, msg) -> None:
        await self._nc.publish(msg.reply, json.dumps({"id": self.id, "ip": "127.0.0.1"}).encode())

    async def _stage(self, msg) -> None:
        request = json.loads(msg.data)
        self.stagings.append(request)
        reply = await asyncio.to_thread(self._stage_sync, request)
        await self._nc.publish(msg.reply, json.dumps(reply).encode())

    def _stage_sync(self, request: dict) -> dict:
        log = [f"-----> Downloading app bits for {request['name']}"]
        bits = _http("GET", request["bits_uri"])
        names = zipfile.ZipFile(io.BytesIO(bits)).namelist()
        if "app.py" not in names:
            log.append("None of the buildpacks detected a compatible application")
            return {"error": "NoAppDetectedError: none of the buildpacks detected the app", "log": "\n".join(log)}
        log.append(f"-----> Python app detected in the bits of {request['app_id']}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("app/app.zip")
            info.size = len(bits)
            tar.addfile(info, io.BytesIO(bits))
        droplet = buf.getvalue()
        _http("PUT", request["droplet_upload_uri"], droplet)
        log.append("-----> Uploaded droplet")
        return {"droplet_sha1": hashlib.sha1(droplet).hexdigest(), "detected_buildpack": "python",
                "start_command": "python3 app.py", "log": "\n".join(log)}

    async def _start(self, msg) -> None:
        request = json.loads(msg.data)
        self.starts.append(request)
        if self.fail_droplet_fetch is False:
            await asyncio.to_thread(_http, "GET", request["droplet_uri"])
        quota = int(request["limits"]["mem"]) * 1024 * 1024
        inst = Instance(request["droplet"], request["version"], request["index"], uuid.uuid4().hex,
                        self.running_state, time.time(), free_port(), request["name"], quota,
                        (1 + secrets.randbelow(max(1, quota // (2 * 1024 * 1024)))) * 1024 * 1024)
        with self._lock:
            self.instances[inst.instance] = inst
        if self.crash_on_start:
            await asyncio.sleep(0.2)
            await asyncio.to_thread(self.crash, inst.instance, self.crash_on_start)

    async def _stop(self, msg) -> None:
        request = json.loads(msg.data)
        self.stops.append(request)
        with self._lock:
            for key, inst in list(self.instances.items()):
                if inst.droplet != request.get("droplet"):
                    continue
                if "version" in request and inst.version != request["version"]:
                    continue
                if "indices" in request and inst.index not in request["indices"]:
                    continue
                if "instances" in request and inst.instance not in request["instances"]:
                    continue
                del self.instances[key]

    async def _update(self, msg) -> None:
        self.updates.append(json.loads(msg.data))

    async def _find(self, msg) -> None:
        request = json.loads(msg.data)
        with self._lock:
            matches = [i for i in self.instances.values() if i.droplet == request.get("droplet")
                       and ("version" not in request or i.version == request["version"])
                       and ("indices" not in request or i.index in request["indices"])]
        for inst in matches:
            reply: dict[str, Any] = {"dea": self.id, "droplet": inst.droplet, "version": inst.version,
                                     "instance": inst.instance, "index": inst.index, "state": inst.state,
                                     "state_timestamp": inst.since, "host": "127.0.0.1", "port": inst.port}
            if request.get("include_stats"):
                reply["stats"] = {"uptime": time.time() - inst.since, "mem_quota": inst.mem_quota,
                                  "usage": {"mem": inst.usage_mem, "cpu": 0.5}}
            if request.get("include_logs"):
                reply["logs"] = {"stdout": inst.log_line(),
                                 "stderr": "" if inst.state != "CRASHED" else f"Traceback: boom in {inst.instance}\n"}
            await self._nc.publish(msg.reply, json.dumps(reply).encode())
