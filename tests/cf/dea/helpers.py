"""Real processes and small fakes for the DEA's tests: a NATS watcher on its own thread, a
fake cloud controller (the `/internal/...` endpoints only), app zips, and the DEA itself as
a subprocess. Loopback only; every process is ended by PID."""

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
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import nats


from bosh_py.agent.procfs import pid_alive  # noqa: F401 (the cf tests import it from here)
from tests.harness import TEST_NET, wait_until

REPO = Path(__file__).resolve().parents[3]
BUILDPACKS = REPO / "releases" / "dea" / "src" / "buildpacks"
CGROUP_ROOT = Path("/sys/fs/cgroup")
DEA_TEST_SUBNET = f"10.246.{TEST_NET}"      # one /30 per DEA network namespace of a test run


# --- the DEA's own network namespace -------------------------------------------------------------

def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@dataclass
class DeaNetns:
    """A network namespace standing in for a DEA VM: the DEA adds its nft table and veths
    there, never in the host's namespace. A veth pair links it to the host: the host end
    holds ``host_ip`` (where the test's NATS and fake CC listen), the DEA's end ``dea_ip``."""

    name: str = field(default_factory=lambda: f"deat{TEST_NET}-{secrets.token_hex(3)}")
    host_ip: str = ""
    dea_ip: str = ""

    @property
    def host_if(self) -> str:
        return self.name.replace("deat", "dth")[:15]

    def create(self) -> "DeaNetns":
        used = _ip("-4", "-o", "addr", "show").stdout
        block = next(k for k in range(0, 256, 4) if f" {DEA_TEST_SUBNET}.{k + 1}/30" not in used)
        self.host_ip, self.dea_ip = f"{DEA_TEST_SUBNET}.{block + 1}", f"{DEA_TEST_SUBNET}.{block + 2}"
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            for args in (("addr", "add", f"{self.dea_ip}/30", "dev", "eth0"), ("link", "set", "eth0", "up"),
                         ("link", "set", "lo", "up")):
                _ip("-n", self.name, *args)
        except subprocess.CalledProcessError:
            self.destroy()
            raise
        return self

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True)

    def links(self) -> list[str]:
        return [line.split(":")[1].strip().split("@")[0]
                for line in _ip("-n", self.name, "-o", "link", "show").stdout.splitlines()]

    def destroy(self) -> None:
        _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.name, check=False)



def free_port_range(size: int) -> int:
    """The start of ``size`` consecutive ports nothing listens on (random, above 30000)."""
    for _ in range(200):
        start = 30000 + secrets.randbelow(25000)
        ok = True
        for port in range(start, start + size):
            with socket.socket() as sock:
                try:
                    sock.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return start
    raise RuntimeError("no free port range")




def http_get(url: str, timeout: float = 5.0) -> str:
    import urllib.request
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


# --- apps ------------------------------------------------------------------------------------

def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            zf.writestr(info, content)
    return buffer.getvalue()


def zip_with_links(entries: list[tuple[str, str, bool]]) -> bytes:
    """A zip of ``(name, content, is_link)`` entries, in order; a link's content is its target."""
    return make_zip({name: data for name, data, _link in entries},
                    {name: 0o120777 for name, _data, link in entries if link})


def json_app(prelude: str, payload: str, port: str = 'int(os.environ["PORT"])') -> str:
    """The source of an app that answers every GET with ``json.dumps(<payload>)``, listening on
    ``port`` (both Python expressions); ``prelude`` imports and defines what they use."""
    return prelude + """class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(""" + payload + """).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("0.0.0.0", """ + port + """), Handler).serve_forever()
"""


HELLO_APP = json_app('''
import json, os, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

app = json.loads(os.environ["VCAP_APPLICATION"])
print("hello app starting, index", app["instance_index"], flush=True)
print("a line on stderr", file=__import__("sys").stderr, flush=True)

''', '''{"index": app["instance_index"], "uid": os.getuid(), "pid": os.getpid(),
                           "hostname": socket.gethostname(), "cwd": os.getcwd(),
                           "env": {k: os.environ.get(k) for k in ("PORT", "VCAP_APP_PORT", "VCAP_APP_HOST",
                                   "VCAP_SERVICES", "HOME", "GREETING")},
                           "vcap_application": app, "tmp": os.listdir("/tmp")}''')

SILENT_APP = '''
import time
print("I will never listen", flush=True)
while True:
    time.sleep(1)
'''

HUNGRY_APP = '''
import os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def eat():
    time.sleep(0.5)
    hoard = []
    for _ in range(200):          # 2 GB in 10 MB steps: far beyond any test limit
        hoard.append(bytearray(10 * 1024 * 1024))
        time.sleep(0.01)
    print("still alive with", len(hoard) * 10, "MB", flush=True)

threading.Thread(target=eat, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), BaseHTTPRequestHandler).serve_forever()
'''


# --- a fake cloud controller -----------------------------------------------------------------

@dataclass
class FakeCloudController:
    """GET /internal/apps/<guid>/bits, PUT and GET /internal/apps/<guid>/droplet, basic auth."""

    user: str = "internal"
    password: str = field(default_factory=lambda: "p@ss:" + secrets.token_hex(4))
    bits: dict[str, bytes] = field(default_factory=dict)
    droplets: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    host: str = "127.0.0.1"

    def start(self) -> "FakeCloudController":
        cc = self

        class Handler(BaseHTTPRequestHandler):
            def _authorized(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{cc.user}:{cc.password}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                return True

            def _parts(self) -> list[str]:
                return self.path.strip("/").split("/")

            def do_GET(self):
                cc.requests.append(("GET", self.path))
                if not self._authorized():
                    return
                parts = self._parts()
                store = {"bits": cc.bits, "droplet": cc.droplets}.get(parts[-1], {}) if len(parts) == 4 else {}
                body = store.get(parts[2]) if len(parts) == 4 else None
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                cc.requests.append(("PUT", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not self._authorized():
                    return
                parts = self._parts()
                if len(parts) != 4 or parts[3] != "droplet":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                cc.droplets[parts[2]] = body
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, guid: str, what: str) -> str:
        from urllib.parse import quote
        return (f"http://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}"
                f"/internal/apps/{guid}/{what}")

    def droplet_sha1(self, guid: str) -> str:
        return hashlib.sha1(self.droplets[guid]).hexdigest()


# --- NATS from a test thread ------------------------------------------------------------------

class NatsWatcher:
    """A NATS client on its own event loop thread that records every message on the
    subjects it watches, and can publish and gather replies for the (synchronous) tests."""

    def __init__(self, connect_options: dict[str, Any], subjects: list[str]) -> None:
        self.messages: list[tuple[str, dict, float]] = []
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = self.run(nats.connect(**connect_options))
        for subject in subjects:
            self.run(self.client.subscribe(subject, cb=self._record))
        self.run(self.client.flush())

    async def _record(self, msg) -> None:
        try:
            data = json.loads(msg.data)
        except ValueError:
            return
        with self._lock:
            self.messages.append((msg.subject, data, time.monotonic()))

    def run(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def on(self, subject: str, since: float = 0.0) -> list[dict]:
        with self._lock:
            return [data for s, data, at in self.messages if s == subject and at >= since]

    def wait_for(self, subject: str, predicate: Callable[[dict], bool] = lambda _m: True,
                 timeout: float = 15.0, since: float = 0.0) -> dict:
        def found():
            for data in self.on(subject, since):
                if predicate(data):
                    return data
            return None
        return wait_until(found, timeout, message=f"a {subject} message")

    def publish(self, subject: str, payload: dict) -> None:
        async def go():
            await self.client.publish(subject, json.dumps(payload).encode())
            await self.client.flush()
        self.run(go())

    def gather(self, subject: str, payload: dict, timeout: float) -> list[tuple[dict, float]]:
        """Publish with a reply inbox; (reply, seconds after publishing) for each answer."""
        async def go():
            inbox = self.client.new_inbox()
            sub = await self.client.subscribe(inbox)
            answers = []
            started = time.monotonic()
            await self.client.publish(subject, json.dumps(payload).encode(), reply=inbox)
            deadline = started + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    msg = await sub.next_msg(timeout=remaining)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    break
                answers.append((json.loads(msg.data), time.monotonic() - started))
            await sub.unsubscribe()
            return answers
        return self.run(go(), timeout + 10)

    def request(self, subject: str, payload: dict, timeout: float) -> dict:
        async def go():
            msg = await self.client.request(subject, json.dumps(payload).encode(), timeout=timeout)
            return json.loads(msg.data)
        return self.run(go(), timeout + 10)

    def close(self) -> None:
        try:
            self.run(self.client.close(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


# --- the DEA as a process ---------------------------------------------------------------------

VM_CONFIG = "/var/vcap/jobs/dea/config/dea.json"


@dataclass
class DeaProcess:
    """The DEA as a process in ``netns`` (its nft table and veths stay in there).

    With ``vm_files`` ({path under /var: (bytes, mode)}) it also gets a mount namespace whose
    /var is a tmpfs holding its config at the job's path (0644, as rendered on a VM) and
    those files: a DEA VM's view (/var/vcap/jobs, /var/vcap/bosh/settings.json) for tests
    of what an app can see, without touching the host's /var."""

    config_path: Path
    config: dict
    log_path: Path
    netns: DeaNetns
    process: subprocess.Popen | None = None
    vm_files: dict[str, tuple[bytes, int]] | None = None

    def _vm_view(self) -> list[str]:
        staged = self.config_path.parent / "vm-files"
        staged.mkdir(mode=0o700, exist_ok=True)
        files = {VM_CONFIG: (self.config_path.read_bytes(), 0o644), **(self.vm_files or {})}
        lines = ["set -e", "mount -t tmpfs -o mode=755 tmpfs /var", "mkdir -m 1777 /var/tmp"]
        for number, (path, (content, mode)) in enumerate(files.items()):
            assert path.startswith("/var/"), path
            (staged / str(number)).write_bytes(content)
            lines.append(f"install -D -m {mode:o} {staged / str(number)} {path}")
        lines.append('exec "$@"')
        return ["unshare", "--mount", "--propagation", "slave", "sh", "-c", "\n".join(lines), "dea-vm"]

    @property
    def id(self) -> str:
        return self.config["id"]

    def start(self) -> "DeaProcess":
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
               "PYTHONPATH": str(REPO / "releases" / "cf_platform" / "src")}
        with open(self.log_path, "ab") as log:
            # nsenter joins only the network namespace (``ip netns exec`` would remount /sys
            # and hide the cgroup hierarchies) and execs the DEA: the PID is the DEA's.
            wrapper = self._vm_view() if self.vm_files is not None else []
            config = VM_CONFIG if self.vm_files is not None else str(self.config_path)
            self.process = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.netns.name}", *wrapper,
                                             sys.executable, "-m", "cf_platform.dea", "--config", config],
                                            stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd="/")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the DEA stops its instances), SIGKILL if it hangs; by PID only."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def cgroup_dirs(parent: str) -> list[Path]:
    """Every directory at or below ``parent`` in the memory and pids hierarchies."""
    found = []
    for controller in ("memory", "pids"):
        base = CGROUP_ROOT / controller / parent
        if base.exists():
            found += [Path(dirpath) for dirpath, _d, _f in os.walk(base)]
    return found


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(text.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
