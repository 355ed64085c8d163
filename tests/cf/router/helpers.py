"""Real processes for the router's integration tests and bench: nats-server, the router
control plane (with its nginx), tiny backend HTTP servers. Loopback addresses only; every
process is stopped by PID."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bosh_py.agent.procfs import pid_alive
from tests.harness import free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
NATS_SERVER = REPO / ".venv" / "bin" / "nats-server"


def find_nginx() -> str | None:
    """Debian's nginx on the host (scripts/setup installs the `nginx` package)."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None






def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    def is_open() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_until(is_open, timeout, message=f"{host}:{port} to accept connections")


def stop_pid(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; by PID, never by name."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- nats-server ------------------------------------------------------------------------

@dataclass
class Nats:
    proc: subprocess.Popen
    port: int
    user: str
    password: str
    workdir: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_pid(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_nats(user: str = "router-test", password: str = "s3cret-pass", port: int | None = None) -> Nats:
    workdir = Path(tempfile.mkdtemp(prefix="cf-router-nats-"))
    port = port or free_port()
    conf = workdir / "nats.conf"
    conf.write_text(f'listen: "127.0.0.1:{port}"\n'
                    f'authorization {{ user: "{user}", password: "{password}" }}\n')
    proc = subprocess.Popen([str(NATS_SERVER), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "nats.log", "wb"))
    nats = Nats(proc, port, user, password, workdir)
    try:
        wait_for_port("127.0.0.1", port)
    except BaseException:
        nats.stop()
        raise
    return nats


# --- backends ---------------------------------------------------------------------------

class _EchoHandler(BaseHTTPRequestHandler):
    """Answers with its backend's name and the request headers it received (JSON);
    ``/slow/<seconds>`` answers after that many seconds (a request still in flight)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/slow/"):
            self.server.slow_started.set()  # type: ignore[attr-defined]
            time.sleep(float(self.path.split("/")[2]))
        body = json.dumps({"backend": self.server.name,  # type: ignore[attr-defined]
                           "path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Backend:
    name: str
    host: str
    port: int
    server: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_backend(name: str, host: str) -> Backend:
    server = ThreadingHTTPServer((host, 0), _EchoHandler)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    server.slow_started = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name=f"backend {name}", daemon=True)
    thread.start()
    return Backend(name, host, server.server_address[1], server, thread)


# --- the router -------------------------------------------------------------------------

@dataclass
class RouterProcess:
    proc: subprocess.Popen
    port: int
    status_port: int
    status_user: str
    status_password: str
    workdir: Path
    config: dict = field(default_factory=dict)

    @property
    def nginx_pid_file(self) -> Path:
        return self.workdir / "run" / "nginx.pid"

    def nginx_pid(self) -> int | None:
        try:
            return int(self.nginx_pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @property
    def pid_file(self) -> Path:
        return Path(self.config["pid_file"])

    @property
    def drain_state_file(self) -> Path:
        return Path(self.config["drain"]["state_file"])

    def nginx_workers(self) -> list[int]:
        pid = self.nginx_pid()
        if pid is None:
            return []
        try:
            return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until nginx runs only its current workers: after a reload the old ones keep
        accepting for a moment, so a request could still meet the previous configuration."""
        workers = int(self.config["nginx"]["worker_processes"])
        wait_until(lambda: len(self.nginx_workers()) == workers, timeout,
                   message="nginx's old workers to exit after a reload")

    def status_get(self, path: str, auth: bool = True) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.status_port}{path}")
        if auth:
            import base64
            token = base64.b64encode(f"{self.status_user}:{self.status_password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def routes(self) -> dict:
        status, body = self.status_get("/routes")
        assert status == 200, body
        return json.loads(body)

    def varz(self) -> dict:
        status, body = self.status_get("/varz")
        assert status == 200, body
        return json.loads(body)

    def logs(self) -> str:
        return (self.workdir / "router.stderr.log").read_text(errors="replace")

    def stop(self) -> None:
        nginx_pid = self.nginx_pid()
        stop_pid(self.proc, grace=15)
        if nginx_pid is not None and pid_alive(nginx_pid):  # must not happen: the test fails
            os.kill(nginx_pid, signal.SIGKILL)
            raise AssertionError(f"nginx (pid {nginx_pid}) outlived the router")
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_router(nats: Nats, nginx_binary: str, **overrides: Any) -> RouterProcess:
    # Workers run as nobody when the tests run as root: the run dir must be reachable by
    # them, which pytest's 0700 tmp_path is not.
    workdir = Path(tempfile.mkdtemp(prefix="cf-router-"))
    workdir.chmod(0o755)
    port, status_port = free_port(), free_port()
    nginx_overrides = overrides.pop("nginx", {})
    config = {
        "id": "router-test-id", "ip": "127.0.0.1", "listen_address": "127.0.0.1", "port": port,
        "nats": {"servers": [nats.url], "user": nats.user, "password": nats.password},
        "status": {"listen_address": "127.0.0.1", "port": status_port, "user": "router-status",
                   "password": "status-secret"},
        "nginx": {"binary": nginx_binary, "run_dir": str(workdir / "run"), "log_dir": str(workdir / "log"),
                  "worker_processes": "2", "worker_connections": 1024, "reload_debounce": 0.1,
                  **nginx_overrides},
        "prune_interval": 0.5, "pid_file": str(workdir / "run" / "router.pid"),
        "drain": {"wait": 1.0, "timeout": 10.0, "state_file": str(workdir / "run" / "drain.state"),
                  **overrides.pop("drain", {})},
        **overrides,
    }
    (workdir / "router.json").write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(REPO / "releases" / "cf_platform" / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cf_platform.router", "--config", str(workdir / "router.json")],
        stdin=subprocess.DEVNULL, stdout=open(workdir / "router.stdout.log", "wb"),
        stderr=open(workdir / "router.stderr.log", "wb"), env=env)
    router = RouterProcess(proc, port, status_port, "router-status", "status-secret", workdir, config)
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                return True
            return _port_open(status_port) and router.status_get("/health", auth=False)[0] == 200

        wait_until(ready, 15, message="the router's /health")
        if proc.poll() is not None:
            raise AssertionError(f"router exited with {proc.returncode}:\n{router.logs()}")
        wait_for_port("127.0.0.1", port)
        # Subscriptions are in place once router.start went out: from then on no
        # registration a test publishes can be lost.
        wait_until(lambda: router.varz()["nats"]["announcements"] >= 1, 15, message="router.start")
    except BaseException:
        router.stop()
        raise
    return router


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- NATS from the tests ----------------------------------------------------------------

class NatsClient:
    """A NATS connection on a private event loop thread, usable from synchronous tests."""

    def __init__(self, nats: Nats) -> None:
        import nats as nats_py
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats client", daemon=True)
        self._thread.start()
        self.client = self._run(nats_py.connect(nats.url, user=nats.user, password=nats.password))
        self.received: dict[str, list[dict]] = {}

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def publish(self, subject: str, payload: dict) -> None:
        async def go() -> None:
            await self.client.publish(subject, json.dumps(payload).encode())
            await self.client.flush()
        self._run(go())

    def request(self, subject: str, payload: dict, timeout: float = 2.0) -> dict:
        async def go() -> dict:
            msg = await self.client.request(subject, json.dumps(payload).encode(), timeout=timeout)
            return json.loads(msg.data)
        return self._run(go())

    def collect(self, subject: str) -> list[dict]:
        """Start recording messages on ``subject``; returns the (live) list."""
        messages = self.received.setdefault(subject, [])

        async def go() -> None:
            async def on_message(msg: Any) -> None:
                messages.append(json.loads(msg.data))
            await self.client.subscribe(subject, cb=on_message)
            await self.client.flush()
        self._run(go())
        return messages

    def close(self) -> None:
        try:
            self._run(self.client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()


# --- the job's bin/drain ----------------------------------------------------------------

def render_drain_script(router: RouterProcess, props: dict | None = None) -> Path:
    """The router job's bin/drain as the director renders it, with its two VM paths (the
    cf-platform package, the job's config) pointed at this checkout and this router's
    configuration; written executable into the router's work directory."""
    from bosh_py.release import JobForRender, read_release_dir, render_instance_jobs
    job = read_release_dir(REPO / "releases" / "router").jobs["router"]
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    spec = {"deployment": "cf", "name": "router", "id": "router-uuid-0", "index": 0, "az": "z1",
            "bootstrap": True, "networks": {"default": {"ip": "127.0.0.1", "default": ["dns", "gateway"]}}}
    rendered = render_instance_jobs(
        [JobForRender("router", job.spec, (job.directory / "monit").read_text(), templates,
                      props or {"nats": {"machines": ["127.0.0.1"]}})],
        spec, {"router": {}}).files["router"]["bin/drain"]
    for vm_path, here in (("/var/vcap/packages/cf-platform/lib", str(REPO / "releases" / "cf_platform" / "src")),
                          ("/var/vcap/jobs/router/config/router.json", str(router.workdir / "router.json")),
                          ("/var/vcap/sys/log/router", str(router.workdir / "log")),
                          ("/usr/bin/python3", sys.executable)):
        assert vm_path in rendered, f"bin/drain no longer mentions {vm_path}"
        rendered = rendered.replace(vm_path, here)
    script = router.workdir / "drain"
    script.write_text(rendered)
    script.chmod(0o755)
    return script


def run_drain_script(script: Path, *args: str) -> int:
    """Run bin/drain as the agent does (its arguments, stdout's last line an integer)."""
    out = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30, check=True)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"bin/drain must print one integer, printed {out.stdout!r}"
    return int(lines[0])


# --- load on a new connection per request -------------------------------------------------

class FreshConnectionLoad:
    """Requests from ``workers`` threads, each on a new TCP connection (no keep-alive), so a
    failure can only come from the router itself (a refused connection, a 404 or 502 while
    a configuration changes), never from HTTP/1.1's race of a reused connection the server
    closes just as the next request is sent (that one a client or HAProxy must retry)."""

    def __init__(self, url: str, host: str, interval: float = 0.01, workers: int = 2) -> None:
        self.url, self.host, self.interval = url, host, interval
        self.sent = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def __enter__(self) -> "FreshConnectionLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self) -> None:
        import httpx
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=5, headers={"Host": self.host}, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    failure = None if response.status_code == 200 else (
                        f"HTTP {response.status_code} {response.headers.get('X-Cf-RouterError', '')}")
                except httpx.HTTPError as error:
                    failure = f"{type(error).__name__}: {error}"
                with self._lock:
                    self.sent += 1
                    if failure:
                        self.failures.append(failure)
                self._stop.wait(self.interval)


# --- HAProxy in front (releases/haproxy's blob: Debian's haproxy) ---------------------------

HAPROXY_BLOBS = REPO / "releases" / "haproxy" / "blobs" / "haproxy"


@dataclass
class HAProxy:
    proc: subprocess.Popen
    port: int
    workdir: Path

    def stop(self) -> None:
        stop_pid(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_haproxy(*routers: RouterProcess) -> HAProxy:
    """Debian's haproxy, extracted from the haproxy release's blobs, in front of ``routers``
    with the settings of releases/haproxy's job that matter here: /health checked every
    second (out after 2 failures), retries on a connection failure or an empty response."""
    debs = sorted(HAPROXY_BLOBS.glob("*.deb"))
    workdir = Path(tempfile.mkdtemp(prefix="cf-router-haproxy-"))
    try:
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "root")], check=True)
        libs = sorted({str(p.parent) for p in (workdir / "root").rglob("*.so*")})
        port = free_port()
        conf = workdir / "haproxy.cfg"
        conf.write_text(f"""global
  maxconn 1000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout check 1s
frontend http-in
  bind 127.0.0.1:{port}
  default_backend http-routers
backend http-routers
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response
  option httpchk GET /health
  http-check expect status 200
  default-server inter 1000ms fall 2 rise 2
""" + "".join(f"  server router-{i} 127.0.0.1:{router.port} check port {router.status_port}\n"
              for i, router in enumerate(routers)))
        proc = subprocess.Popen([str(workdir / "root/usr/sbin/haproxy"), "-db", "-f", str(conf)],
                                env={**os.environ, "LD_LIBRARY_PATH": ":".join(libs)},
                                stdin=subprocess.DEVNULL, stdout=open(workdir / "haproxy.log", "wb"),
                                stderr=subprocess.STDOUT)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    haproxy = HAProxy(proc, port, workdir)
    try:
        wait_for_port("127.0.0.1", port)
    except BaseException:
        haproxy.stop()
        raise
    return haproxy
