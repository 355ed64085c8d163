"""A real local director for integration tests: its own data dir, ports, CPI root, bridge
and subnet, so tests never touch an operator's director; everything is removed at the end."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STEMCELL_CACHE = Path("/var/cache/bosh-py/stemcell")
STEMCELL = STEMCELL_CACHE / "bosh-py-local-debian-bookworm-1.1.tar"
MAX_TEST_NET = 25  # net N names things with the letter chr(ord("a") + N)


def worker_test_net(base: str | None, worker: str | None) -> int:
    """The test net of this process: BOSH_PY_TEST_NET (``base``, default 0) for a plain run,
    plus the xdist worker's index (``worker``: PYTEST_XDIST_WORKER, ``gw<index>``) under
    pytest-xdist, so parallel workers never share a bridge, subnet or CPI name prefix."""
    try:
        net = int(base) if base not in (None, "") else 0
    except ValueError:
        raise ValueError(f"BOSH_PY_TEST_NET={base!r}: expected a whole number 0-{MAX_TEST_NET}") from None
    if worker:
        if not (worker.startswith("gw") and worker[2:].isdigit()):
            raise ValueError(f"PYTEST_XDIST_WORKER={worker!r}: expected gw<index>")
        net += int(worker[2:])
    if not 0 <= net <= MAX_TEST_NET:
        raise ValueError(f"BOSH_PY_TEST_NET={base!r} with xdist worker {worker!r} gives test net {net}: "
                         f"nets go from 0 to {MAX_TEST_NET}; lower BOSH_PY_TEST_NET or the number of workers (-n)")
    return net


# BOSH_PY_TEST_NET=N (0-25) gives a test run its own bridge, subnet and CPI name prefix, so
# two runs on one machine (two developers, or a developer beside CI) never share a network;
# under pytest-xdist worker gwK uses net N+K (scripts/test runs workers).
TEST_NET = worker_test_net(os.environ.get("BOSH_PY_TEST_NET"), os.environ.get("PYTEST_XDIST_WORKER"))
TEST_BRIDGE = f"boshpyt{TEST_NET}"
TEST_SUBNET = f"10.245.{TEST_NET}"          # a /24; tests/e2e/cloud-config.yml is written for net 0
TEST_GATEWAY = f"{TEST_SUBNET}.1"
TEST_CPI_PREFIX = "bt" + ("" if TEST_NET == 0 else chr(ord("a") + TEST_NET))


@dataclass(frozen=True)
class VmNet:
    """Where a local director's VMs live: a host bridge, a /24 and a CPI name prefix."""
    bridge: str
    subnet: str  # the /24's first three octets
    cpi_prefix: str

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"


# The directors of module-scoped fixtures come and go one at a time on this net ...
WORKER_NET = VmNet(TEST_BRIDGE, TEST_SUBNET, TEST_CPI_PREFIX)
# ... while a longer-lived one (the cf deployment tests/e2e/cf's modules share) may live beside
# them, so it gets its own: on one subnet two directors would hand out the same IPs.
SESSION_NET = VmNet(f"boshpys{TEST_NET}", f"10.247.{TEST_NET}", "bs" + chr(ord("a") + TEST_NET))
E2E_CLOUD_CONFIG = REPO / "tests/e2e/cloud-config.yml"


def stop_orphaned_nats(data_dir: Path) -> None:
    """Stop the nats-server a SIGKILLed director left running (it runs in its own process; a
    director that is started again adopts it and stops it with itself, one that is not leaves
    it), by the pid its pid file names and only if that process is still this nats-server."""
    pid_file = data_dir / "nats" / "nats.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(data_dir / "nats").encode() not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not Path(f"/proc/{pid}/cmdline").exists() or
               not Path(f"/proc/{pid}/cmdline").read_bytes(), 10, message=f"nats-server {pid} to stop")


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true; return that (every test's waiter)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


PORTS_PER_NET = 800
FIRST_PORT = 10000  # blocks of nets 0-25 end at 30800, below the kernel's ephemeral ports (32768-)


@dataclass
class PortBlock:
    """This test net's own block of TCP ports, handed out in turn.

    Why not bind to port 0: parallel workers (and other runs on other nets) would be handed
    the same ephemeral ports, and a port a test has not bound yet (a director it is starting)
    could go to another worker in the meantime. In turn: a port handed out is not handed out
    again until the whole block has gone round."""

    first: int
    size: int = PORTS_PER_NET
    _next: int = 0

    def take(self, host: str) -> int:
        for _ in range(self.size):
            port = self.first + self._next
            self._next = (self._next + 1) % self.size
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue  # in use (a lingering connection, another program)
                return port
        raise RuntimeError(f"no free TCP port in {self.first}-{self.first + self.size - 1} (test net {TEST_NET})")


_PORTS = PortBlock(FIRST_PORT + PORTS_PER_NET * TEST_NET, _next=os.getpid() % PORTS_PER_NET)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on, from this test net's block (:class:`PortBlock`)."""
    return _PORTS.take(host)


def ensure_stemcell() -> Path:
    if not STEMCELL.exists():
        subprocess.run([BIN / "bosh-py", "stemcell", "build-local", "--cache-dir", STEMCELL_CACHE,
                        "--output", STEMCELL], check=True)
    return STEMCELL


@dataclass
class LocalDirector:
    root: Path
    env: dict = field(default_factory=dict)
    net: VmNet = WORKER_NET

    @property
    def data_dir(self) -> Path:
        return self.root / "director"

    @property
    def cpi_config(self) -> Path:
        return self.root / "cpi.json"

    def start(self, health_monitor: dict | None = None, config: dict | None = None) -> None:
        """``config``: more of director.json (db_url, lock_ttl, ...)."""
        self.root.mkdir(parents=True, exist_ok=True)
        settings = {**(config or {}), **({"health_monitor": health_monitor} if health_monitor else {})}
        if settings:  # `director start` keeps what director.json already says
            self.data_dir.mkdir(parents=True, exist_ok=True)
            (self.data_dir / "director.json").write_text(json.dumps({"data_dir": str(self.data_dir), **settings}))
        self.cpi_config.write_text(json.dumps({"root": str(self.root / "cpi"), "bridge": self.net.bridge,
                                               "prefix": self.net.cpi_prefix}))
        self.env = {**os.environ, "BOSH_PY_CONFIG": str(self.root / "cli.json"),
                    "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
        self.cli("director", "start", "--data-dir", str(self.data_dir), "--api-port", str(free_port()),
                 "--nats-port", str(free_port()), "--blobstore-port", str(free_port()),
                 "--agent-endpoint-host", self.net.gateway, "--cpi", str(BIN / "bosh-py-cpi-local"),
                 "--cpi-config", str(self.cpi_config))

    def cli(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "bosh-py"), *args], env=self.env, capture_output=True, text=True,
                                input=input, timeout=timeout, cwd=REPO)
        if check and result.returncode != 0:
            raise AssertionError(f"bosh-py {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def update_cloud_config(self, path: Path = E2E_CLOUD_CONFIG) -> None:
        """Upload a cloud-config written for test net 0, moved onto this director's subnet."""
        text = path.read_text().replace("10.245.0.", f"{self.net.subnet}.")
        moved = self.root / f"cloud-config-{self.net.bridge}.yml"
        moved.write_text(text)
        self.cli("update-cloud-config", str(moved))

    def upload_testrel(self) -> None:
        """Upload tests/fixtures/releases/testrel (its web job) from a copy under this root."""
        release = self.root / "testrel"
        shutil.copytree(REPO / "tests/fixtures/releases/testrel", release)
        self.cli("upload-release", str(release))

    def json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "--json").stdout)

    def cpi(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "bosh-py-cpi-local"), *args], env={**self.env,
                              "BOSH_PY_CPI_CONFIG": str(self.cpi_config)}, capture_output=True, text=True)

    def stop(self) -> None:
        """Stop the director and remove every VM, disk, namespace and mount the CPI made."""
        try:
            self.cli("director", "stop", "--data-dir", str(self.data_dir), check=False, timeout=60)
        finally:
            self.cpi("cleanup")
            log = self.data_dir / "director.log"
            if log.exists():  # kept for the post-mortem of a failed run; parallel workers apart
                shutil.copy(log, Path(tempfile.gettempdir()) / f"bosh-py-test-director-net{TEST_NET}-"
                                                               f"{self.root.parent.name}-{self.root.name}.log")
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def director_with_stemcell(root: Path, health_monitor: dict | None = None,
                           net: VmNet = WORKER_NET, config: dict | None = None) -> Iterator[LocalDirector]:
    """A started local director (with ``health_monitor`` settings, if given) holding the
    local stemcell and the cloud-config of its ``net`` (SESSION_NET for one that outlives
    module fixtures); at the end it is stopped and every VM, disk and namespace it made
    removed. Skips without root (namespace VMs need it)."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    stemcell = ensure_stemcell()
    local = LocalDirector(root, net=net)
    try:
        local.start(health_monitor, config)
        local.cli("upload-stemcell", str(stemcell))
        local.update_cloud_config()
        yield local
    finally:
        local.stop()
