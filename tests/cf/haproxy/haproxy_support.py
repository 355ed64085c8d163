"""Real haproxy for the haproxy job's tests: the job's templates rendered by bosh-py's own
renderer (ERB through ruby, as the director does), and the haproxy package built by its own
packaging script from the same .deb blobs the VMs get, run on this host. Loopback only;
every process is stopped by PID."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bosh_py.agent.procfs import read_stat
from bosh_py.release import (
    JobForRender,
    link_from_provider,
    read_release_dir,
    render_instance_jobs,
)
from tests.cf.router.helpers import (
    REPO,
    Backend,
    Nats,
    NatsClient,
    RouterProcess,
    pid_alive,
    stop_pid,
    wait_for_port,
)
from tests.harness import wait_until

HAPROXY_RELEASE = REPO / "releases" / "haproxy"
ROUTER_RELEASE = REPO / "releases" / "router"
BLOBS = HAPROXY_RELEASE / "blobs" / "haproxy"
VM_RUN_DIR = "/var/vcap/sys/run/haproxy"


def router_link(addresses: list[str], port: int = 80, status_port: int = 8080) -> dict:
    """The `router` link as the director builds it from releases/router's job spec."""
    router_job = read_release_dir(ROUTER_RELEASE).jobs["router"]
    instances = [{"name": "router", "id": f"router-{i}", "index": i, "az": "z1", "address": address,
                  "bootstrap": i == 0} for i, address in enumerate(addresses)]
    return link_from_provider(router_job.spec, {"router": {"port": port, "status": {"port": status_port}}},
                              "router", instances, deployment="cf")


def render_job(properties: dict, links: dict | None = None) -> dict[str, str]:
    """The haproxy job's rendered files (config/haproxy.cfg, bin/haproxy_ctl, monit)."""
    job = read_release_dir(HAPROXY_RELEASE).jobs["haproxy"]
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    spec = {"deployment": "cf", "name": "haproxy", "id": "haproxy-uuid-0", "index": 0, "az": "z1",
            "bootstrap": True, "networks": {"default": {"ip": "10.244.0.20", "default": ["dns", "gateway"]}}}
    rendered = render_instance_jobs(
        [JobForRender("haproxy", job.spec, (job.directory / "monit").read_text(), templates, properties,
                      release={"name": "haproxy", "version": "0+dev.1"})],
        spec, {"haproxy": links or {}})
    return dict(rendered.files["haproxy"])


def build_package(into: Path) -> Path:
    """Run the haproxy package's packaging script on the blobs (fetched by
    scripts/prepare-haproxy-blobs when missing); returns the install target."""
    if not sorted(BLOBS.glob("haproxy.deb")):
        subprocess.run([str(REPO / "scripts" / "prepare-haproxy-blobs")], check=True, capture_output=True)
    compile_dir, install = into / "compile", into / "install"
    (compile_dir / "haproxy").mkdir(parents=True)
    install.mkdir()
    for deb in BLOBS.glob("*.deb"):
        shutil.copy(deb, compile_dir / "haproxy" / deb.name)
    packaging = HAPROXY_RELEASE / "packages" / "haproxy" / "packaging"
    subprocess.run(["bash", str(packaging)], cwd=compile_dir, check=True, capture_output=True,
                   env={**os.environ, "BOSH_INSTALL_TARGET": str(install), "BOSH_COMPILE_TARGET": str(compile_dir)})
    return install


@dataclass
class Haproxy:
    """haproxy in master-worker mode, as haproxy_ctl starts it (minus the user switch)."""

    proc: subprocess.Popen
    port: int
    stats_port: int
    stats_auth: tuple[str, str] | None
    workdir: Path
    binary: Path

    @property
    def config(self) -> Path:
        return self.workdir / "haproxy.cfg"

    def log(self) -> str:
        return (self.workdir / "haproxy.log").read_text(errors="replace")

    def stats(self) -> dict[str, dict[str, str]]:
        """The stats page as CSV rows of backend http-routers, by server name."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.stats_port}/haproxy_stats;csv")
        if self.stats_auth:
            token = base64.b64encode(":".join(self.stats_auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode().lstrip("# ")
        return {row["svname"]: row for row in csv.DictReader(io.StringIO(text))
                if row["pxname"] == "http-routers"}

    def server_states(self) -> dict[str, str]:
        return {name: row["status"] for name, row in self.stats().items() if name.startswith("router_")}

    def reload(self, text: str | None = None) -> None:
        """What haproxy_ctl reload does: a checked new configuration, then SIGUSR2."""
        if text is not None:
            self.config.write_text(text)
        check = subprocess.run([str(self.binary), "-c", "-q", "-f", str(self.config)],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        os.kill(self.master_pid(), 12)  # SIGUSR2

    def master_pid(self) -> int:
        return int((self.workdir / "haproxy.pid").read_text().split()[0])

    def stop(self) -> None:
        stop_pid(self.proc, grace=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def for_this_host(rendered_cfg: str, workdir: Path) -> str:
    """The rendered configuration with the VM's run directory replaced by a test directory
    (the only change: nothing else of what the VM runs is altered)."""
    return rendered_cfg.replace(VM_RUN_DIR, str(workdir))


def start_haproxy(install: Path, rendered_cfg: str, port: int, stats_port: int,
                  stats_auth: tuple[str, str] | None = None) -> Haproxy:
    workdir = Path(tempfile.mkdtemp(prefix="cf-haproxy-"))
    binary = install / "bin" / "haproxy"
    (workdir / "haproxy.cfg").write_text(for_this_host(rendered_cfg, workdir))
    with open(workdir / "haproxy.log", "wb") as log:
        proc = subprocess.Popen([str(binary), "-W", "-db", "-f", str(workdir / "haproxy.cfg"),
                                 "-p", str(workdir / "haproxy.pid")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    haproxy = Haproxy(proc, port, stats_port, stats_auth, workdir, binary)
    try:
        wait_for_port("127.0.0.1", port)
        wait_for_port("127.0.0.1", stats_port)
        wait_until(lambda: (workdir / "haproxy.pid").exists(), 10, message="haproxy's pidfile")
    except BaseException:
        print(haproxy.log())
        haproxy.stop()
        raise
    return haproxy


def local_properties(port: int, stats_port: int, **ha_proxy: Any) -> dict:
    """Job properties for a haproxy on loopback (the test's free ports)."""
    return {"ha_proxy": {"listen_address": "127.0.0.1", "port": port, "stats_bind": f"127.0.0.1:{stats_port}",
                         "drain_timeout": 5, **ha_proxy}}



# --- routers on their own loopback addresses ------------------------------------------------

def start_router_at(address: str, port: int, status_port: int, nats: Nats, nginx_binary: str,
                    **settings: Any) -> RouterProcess:
    """A real router (control plane + nginx) listening on ``address``: the haproxy job gives
    every router the same ports (the link's), so each router needs an address of its own,
    as on VMs."""
    workdir = Path(tempfile.mkdtemp(prefix="cf-haproxy-router-"))
    workdir.chmod(0o755)  # nginx's workers (nobody) read the run dir
    config = {
        "id": f"router-{address}", "ip": address, "listen_address": address, "port": port,
        "nats": {"servers": [nats.url], "user": nats.user, "password": nats.password},
        "status": {"listen_address": address, "port": status_port, "user": "router-status",
                   "password": "status-secret"},
        "nginx": {"binary": nginx_binary, "run_dir": str(workdir / "run"), "log_dir": str(workdir / "log"),
                  "worker_processes": "1", "worker_connections": 1024, "reload_debounce": 0.1},
        "prune_interval": 0.5, **settings,
    }
    (workdir / "router.json").write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(REPO / "releases" / "cf_platform" / "src")}
    with open(workdir / "router.stdout.log", "wb") as out, open(workdir / "router.stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cf_platform.router", "--config", str(workdir / "router.json")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
    router = RouterProcess(proc, port, status_port, "router-status", "status-secret", workdir, config)
    try:
        wait_until(lambda: proc.poll() is not None or _health(address, status_port) == 200, 20,
                   message=f"the router's /health on {address}")
        if proc.poll() is not None:
            raise AssertionError(f"router exited with {proc.returncode}:\n{router.logs()}")
        wait_for_port(address, port)
    except BaseException:
        router.stop()
        raise
    return router


def _health(address: str, port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/health", timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def kill_router(router: RouterProcess) -> None:
    """A router dying at once: SIGKILL to its nginx workers, its nginx master and its control
    plane, by PID (they share the test's process group, so never by group). The master is
    stopped first, so a reload cannot fork a worker after the workers were listed (such a
    worker outlived its master once)."""
    master = router.nginx_pid()
    if master is not None and pid_alive(master):
        os.kill(master, signal.SIGSTOP)
        wait_until(lambda: (stat := read_stat(master)) is None or stat.state in ("T", "Z", "X"), 10,
                   message="nginx's master to stop")
    pids = [router.proc.pid, *router.nginx_workers(), master]
    for pid in pids:
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    router.proc.wait(10)
    wait_until(lambda: not any(pid_alive(p) for p in pids if p is not None), 10,
               message="the killed router's processes to be gone")


def register_route(nats: Nats, host: str, backend: Backend) -> None:
    """One route, as a DEA registers it."""
    client = NatsClient(nats)
    try:
        client.publish("router.register", {"host": backend.host, "port": backend.port, "uris": [host],
                                           "app": "app-guid", "private_instance_id": f"iid-{backend.name}",
                                           "private_instance_index": 0})
    finally:
        client.close()


class DrainingStatusPort:
    """A router's status port whose /health answers 200, then 503 after ``drain()``: what the
    router's own status port (cf_platform/router/status.py) answers while it drains, before
    it stops. Serves only /health; the router's HTTP entry stays the real one."""

    def __init__(self, address: str, port: int) -> None:
        self.draining = threading.Event()
        self.checks = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # http.server's naming
                owner.checks += 1
                status = 503 if owner.draining.is_set() else 200
                body = b"draining\n" if status == 503 else b"ok\n"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except ConnectionError:  # haproxy closes a check once it has the status line
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="draining status", daemon=True)
        self.thread.start()

    def drain(self) -> None:
        self.draining.set()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
