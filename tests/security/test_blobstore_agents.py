"""Attacks on the director's blobstore with an agent's own credentials, the way root on one VM
would make them: real agents (subprocesses) on a real nats-server, the director's real
blobstore HTTP app, real HTTP requests with the login read from the agent's settings.json.

An agent may read only the blobs named in its own spec or its own compile task, write only
the blob id the director handed it, once, under a size limit, and never delete; a body is
streamed to disk, never held whole in the director's memory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nats
import pytest
from aiohttp import web

from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.blob_grants import BlobGrants
from bosh_py.director.blobstore import LocalBlobstore, sha256_digest_of_file
from bosh_py.director.blobstore_http import blobstore_app
from bosh_py.mbus.errors import AgentError
from bosh_py.mbus.server import NatsServer
from tests.agent.helpers import AgentProcess, make_tgz, with_client
from tests.harness import REPO, free_port, wait_until

UPLOAD_LIMIT = 8 << 20
MiB = 1 << 20


class DirectorBlobstore:
    """The director's agent-facing blobstore app on 127.0.0.1, on its own event loop thread
    (main.py serves the same app beside the API)."""

    def __init__(self, root: Path, grants: BlobGrants, credentials: AgentCredentials) -> None:
        self.store = LocalBlobstore(root)
        self.app = blobstore_app(self.store, grants, credentials)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def start(self) -> "DirectorBlobstore":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)
        return self

    async def _serve(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self.thread.is_alive():
            if self.runner is not None:
                asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


def http(method: str, url: str, login: tuple[str, str], body: bytes | None = None) -> tuple[int, bytes]:
    token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
    request = urllib.request.Request(url, data=body, method=method, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def stolen_login(agent: AgentProcess) -> tuple[str, str]:
    """What root on the agent's VM finds in /var/vcap/bosh/settings.json."""
    blobstore = json.loads(agent.settings_path.read_text())["blobstore"]
    return blobstore["user"], blobstore["password"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """nats-server, the director's blobstore and two agents, A and B, each with the login the
    director gives its VM."""
    base = tmp_path_factory.mktemp("blob-attacks")
    credentials = AgentCredentials.load_or_create(base / "agent-blobstore.key")
    grants = BlobGrants(max_upload_bytes=UPLOAD_LIMIT)
    nats_server = NatsServer(base / "nats", "127.0.0.1", free_port(), director_password=secrets.token_urlsafe(16))
    blobstore = DirectorBlobstore(base / "blobstore", grants, credentials)
    agents: list[AgentProcess] = []
    try:
        nats_server.start()
        blobstore.start()
        for name in ("agent-a", "agent-b"):
            agent_id = f"{name}-{uuid.uuid4().hex[:6]}"
            agent = AgentProcess(base / name / "root", agent_id, nats_server, None,
                                 blobstore_settings=credentials.settings(blobstore.url, agent_id))
            agent.root.mkdir(parents=True)
            agents.append(agent.start())
        for agent in agents:
            async def ready(client, nc):
                await client.wait_until_ready(timeout=30)
            with_client(nats_server, agent.agent_id, ready)
        yield {"a": agents[0], "b": agents[1], "store": blobstore.store, "url": blobstore.url,
               "grants": grants, "nats": nats_server, "credentials": credentials}
    finally:
        for agent in agents:
            agent.stop()
            agent.kill_jobs()
        blobstore.stop()
        nats_server.stop()


def instance_spec(store: LocalBlobstore, job: str, secret: str) -> dict:
    """An apply spec whose package and rendered archive are in the director's store."""
    package_id, package_sha = store.put_bytes(make_tgz({"share/data.txt": f"package of {job}\n"}))
    archive_id, archive_sha = store.put_bytes(make_tgz({
        f"{job}/monit": "processes: []\n",
        f"{job}/config/{job}.json": json.dumps({"password": secret}),
    }))
    return {
        "deployment": "d", "name": job, "id": str(uuid.uuid4()), "index": 0, "job": {
            "name": job, "templates": [{"name": job, "version": "1"}]},
        "packages": {f"{job}-pkg": {"name": f"{job}-pkg", "version": "1", "sha1": package_sha,
                                    "blobstore_id": package_id}},
        "rendered_templates_archive": {"blobstore_id": archive_id, "sha1": archive_sha},
        "configuration_hash": job, "persistent_disk": 0,
    }


def apply(platform, agent: AgentProcess, spec: dict) -> None:
    async def go(client, nc):
        assert await client.apply(spec) == "applied"
    with_client(platform["nats"], agent.agent_id, go, grants=platform["grants"])


@pytest.fixture(scope="module")
def applied(platform):
    """Both agents applied their own spec through the real blobstore (the legitimate path works)."""
    specs = {"a": instance_spec(platform["store"], "joba", "secret-of-a"),
             "b": instance_spec(platform["store"], "jobb", "secret-of-b")}
    for name, spec in specs.items():
        apply(platform, platform[name], spec)
    config = platform["b"].root / "var/vcap/jobs/jobb/config/jobb.json"
    assert json.loads(config.read_text()) == {"password": "secret-of-b"}
    return specs


def blob_url(platform, blob_id: str) -> str:
    return f"{platform['url']}/blobs/{blob_id}"


def test_an_agent_cannot_read_another_instances_blobs(platform, applied):
    login_a = stolen_login(platform["a"])
    theirs = applied["b"]
    for blob_id in (theirs["rendered_templates_archive"]["blobstore_id"],
                    theirs["packages"]["jobb-pkg"]["blobstore_id"]):
        status, body = http("GET", blob_url(platform, blob_id), login_a)
        assert status == 403, f"agent A read B's blob {blob_id}: HTTP {status}"
        assert b"secret-of-b" not in body
    own = applied["a"]["rendered_templates_archive"]["blobstore_id"]
    assert http("GET", blob_url(platform, own), login_a)[0] == 200


def test_an_agent_login_is_its_own(platform, applied):
    """A's password does not open B's account, nor does the old shared 'agent' user."""
    user_a, password_a = stolen_login(platform["a"])
    user_b, _ = stolen_login(platform["b"])
    assert user_a == platform["a"].agent_id and user_b == platform["b"].agent_id
    theirs = blob_url(platform, applied["b"]["rendered_templates_archive"]["blobstore_id"])
    assert http("GET", theirs, (user_b, password_a))[0] == 401
    assert http("GET", theirs, ("agent", password_a))[0] == 401
    assert http("GET", theirs, ("agent", platform["credentials"].key))[0] == 401


def test_an_agent_cannot_delete_any_blob(platform, applied):
    login_a = stolen_login(platform["a"])
    for spec in applied.values():
        blob_id = spec["rendered_templates_archive"]["blobstore_id"]
        status, _ = http("DELETE", blob_url(platform, blob_id), login_a)
        assert status == 403
        assert platform["store"].exists(blob_id), "the blob was deleted"


def test_an_agent_cannot_write_an_id_it_was_not_handed(platform, applied):
    login_a = stolen_login(platform["a"])
    fresh = uuid.uuid4().hex
    assert http("PUT", blob_url(platform, fresh), login_a, b"planted")[0] == 403
    assert not platform["store"].exists(fresh)
    target = applied["b"]["rendered_templates_archive"]
    assert http("PUT", blob_url(platform, target["blobstore_id"]), login_a, b"replaced")[0] == 403
    assert sha256_digest_of_file(platform["store"].get_path(target["blobstore_id"])) == target["sha1"]


PACKAGING = """set -e
mkdir -p "$BOSH_INSTALL_TARGET"
echo compiled > "$BOSH_INSTALL_TARGET/out.txt"
"""


def test_compile_writes_the_result_once_and_reads_only_its_task(platform, applied):
    store = platform["store"]
    source_id, source_sha = store.put_bytes(make_tgz({"packaging": PACKAGING}))
    result_id = uuid.uuid4().hex

    async def go(client, nc):
        return await client.compile_package(source_id, source_sha, "tool", "1.0", {}, result_id)
    result = with_client(platform["nats"], platform["a"].agent_id, go, grants=platform["grants"])
    assert result["result"]["blobstore_id"] == result_id
    assert result["result"]["sha1"] == sha256_digest_of_file(store.get_path(result_id))

    login_a = stolen_login(platform["a"])
    assert http("PUT", blob_url(platform, result_id), login_a, b"swapped")[0] == 403, "a second write"
    assert result["result"]["sha1"] == sha256_digest_of_file(store.get_path(result_id))
    assert http("GET", blob_url(platform, source_id), stolen_login(platform["b"]))[0] == 403


def test_fetch_logs_uploads_to_the_id_the_director_chose(platform, applied):
    async def go(client, nc):
        return await client.run("fetch_logs", "job", None)
    value = with_client(platform["nats"], platform["b"].agent_id, go, grants=platform["grants"])
    assert platform["store"].exists(value["blobstore_id"])
    assert http("PUT", blob_url(platform, value["blobstore_id"]), stolen_login(platform["b"]), b"x")[0] == 403


def test_a_lying_agent_cannot_pass_off_another_blob_as_its_result(platform, applied):
    """A compromised agent answers compile_package naming a blob it did not write (another
    instance's rendered archive): the director refuses the answer, so the blob never becomes
    a compiled package that other VMs would be told to read."""
    agent_id, password = f"liar-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(16)
    platform["nats"].add_agent(agent_id, password)
    stolen = applied["b"]["rendered_templates_archive"]
    source_id, source_sha = platform["store"].put_bytes(make_tgz({"packaging": PACKAGING}))

    async def go(client, nc):
        liar = await nats.connect(servers=[platform["nats"].url()], user=f"agent-{agent_id}", password=password)
        try:
            async def answer(msg):
                request = json.loads(msg.data)
                await liar.publish(request["reply_to"], json.dumps({"value": {"result": {
                    "blobstore_id": stolen["blobstore_id"], "sha1": stolen["sha1"]}}}).encode())
            await liar.subscribe(f"agent.{agent_id}", cb=answer)
            await liar.flush()
            with pytest.raises(AgentError, match="with a blob other than"):
                await client.compile_package(source_id, source_sha, "tool", "1.0", {}, uuid.uuid4().hex)
        finally:
            await liar.close()
    try:
        with_client(platform["nats"], agent_id, go, grants=platform["grants"])
    finally:
        platform["nats"].remove_agent(agent_id)


# --- size limit and memory: the app in its own process, so its peak RSS is its own ----------

SERVER = """
import sys
from pathlib import Path
from aiohttp import web
from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.blob_grants import BlobGrants
from bosh_py.director.blobstore import LocalBlobstore
from bosh_py.director.blobstore_http import blobstore_app

root, key_file, agent_id, limit, port, *upload_ids = sys.argv[1:]
grants = BlobGrants(max_upload_bytes=int(limit))
for blob_id in upload_ids:  # as the director grants them: by sending fetch_logs
    grants.authorize_message(agent_id, "fetch_logs", ["job", None, blob_id])
credentials = AgentCredentials.load_or_create(Path(key_file))
web.run_app(blobstore_app(LocalBlobstore(Path(root)), grants, credentials), host="127.0.0.1", port=int(port),
            print=None, access_log=None)
"""


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def stream_put(port: int, blob_id: str, login: tuple[str, str], size: int, declared: int | None) -> int:
    """PUT ``size`` bytes, with Content-Length ``declared`` (None: chunked), stopping as soon
    as the server answers; returns the status code."""
    token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
    length = f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked"
    head = (f"PUT /blobs/{blob_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n"
            f"{length}\r\nConnection: close\r\n\r\n").encode()
    chunk = os.urandom(MiB)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        sent = 0
        while sent < size and not select.select([sock], [], [], 0)[0]:
            part = chunk[:min(MiB, size - sent)]
            try:
                sock.sendall(part if declared is not None else b"%x\r\n%s\r\n" % (len(part), part))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(part)
        if declared is None and sent >= size:
            sock.sendall(b"0\r\n\r\n")
        reply = b""
        while b"\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    return int(reply.split(b" ", 2)[1])


@pytest.fixture
def blob_server(tmp_path):
    key_file, agent_id = tmp_path / "agent-blobstore.key", "agent-mem"
    ids = [uuid.uuid4().hex for _ in range(4)]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path / "store"), str(key_file), agent_id,
                             str(64 * MiB), str(port), *ids], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                assert proc.poll() is None, "the blobstore app exited"
                return False
        wait_until(answers, timeout=30, message="the blobstore app")
        login = (agent_id, AgentCredentials.load_or_create(key_file).password(agent_id))
        yield {"proc": proc, "port": port, "ids": ids, "login": login, "root": tmp_path / "store"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_uploads_stream_to_disk_and_stop_at_the_limit(blob_server):
    proc, port, ids, login = blob_server["proc"], blob_server["port"], blob_server["ids"], blob_server["login"]
    store = LocalBlobstore(blob_server["root"])
    time.sleep(0.2)
    before = peak_rss(proc.pid)

    assert stream_put(port, ids[0], login, 48 * MiB, declared=48 * MiB) == 201
    assert store.get_path(ids[0]).stat().st_size == 48 * MiB
    assert stream_put(port, ids[1], login, 200 * MiB, declared=200 * MiB) == 413
    assert stream_put(port, ids[2], login, 96 * MiB, declared=None) == 413  # no length: cut at the limit
    assert not store.exists(ids[1]) and not store.exists(ids[2])
    leftovers = [p.name for p in blob_server["root"].rglob("*") if p.is_file() and p.name != ids[0]]
    assert leftovers == [], f"partial uploads left behind: {leftovers}"

    grown = peak_rss(proc.pid) - before
    assert grown < 16 * MiB, f"the blobstore's peak memory grew by {grown // MiB} MiB for 48 MiB bodies"


def test_an_upload_cut_short_leaves_nothing_and_cannot_be_retried(blob_server):
    port, blob_id, login = blob_server["port"], blob_server["ids"][3], blob_server["login"]
    token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
    root = blob_server["root"]

    def partial_files() -> list[Path]:
        return [p for p in root.rglob("*") if p.is_file()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"PUT /blobs/{blob_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n"
                     f"Content-Length: {8 * MiB}\r\n\r\n".encode() + os.urandom(2 * MiB))
        wait_until(partial_files, timeout=10, message="the upload to reach the disk")
    wait_until(lambda: not partial_files(), timeout=10, message="the partial upload to be removed")
    assert not LocalBlobstore(root).exists(blob_id)
    assert stream_put(port, blob_id, login, MiB, declared=MiB) == 403  # the one write was used
