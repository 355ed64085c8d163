"""The message bus under attack. Real nats-servers run the configuration rendered from the
real release templates with the properties of the shipped manifests (deployments/cf.yml,
deployments/nats.yml); each component's credentials are read from its own rendered config
file, which is what an attacker who reads that file holds.

- A component's credentials reach only its own subjects (the table in releases/cf_platform/README.md):
  a DEA cannot start, stage or stop apps nor read the health manager's, the router's or the
  cloud controller's messages; a router cannot register routes; replies reach only the
  component that asked.
- A nats-server that connects to the cluster port without the cluster credentials is refused
  and receives nothing, while one with them joins (so the refusal is not a matter of timing).
- The monitoring port answers on the VM's loopback only, not on the address other VMs reach.

Every case checks both sides: what the attacker tries fails, and the legitimate use of the
same subject works on the same servers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import nats
import pytest
import yaml

from bosh_py.manifest import generate_variables, interpolate, load_yaml_file
from bosh_py.release import JobForRender, link_from_provider, render_instance_jobs
from bosh_py.release.models import JobSpec
from cf_platform.mbus import Bus, inbox_prefix
from tests.harness import BIN, REPO, free_port, wait_until

NATS_SERVER = BIN / "nats-server"
COMPONENTS = ("router", "dea", "cloud_controller", "health_manager")
CONFIG_FILES = {"router": "config/router.json", "dea": "config/dea.json",
                "cloud_controller": "config/cloud_controller.json",
                "health_manager": "config/health_manager.json"}
ServerConfig = tuple[str, str, tuple[str, int]]
QUIET = 0.5   # how long a subscriber waits to be sure a message does not come (after a flush)

pytestmark = pytest.mark.skipif(not NATS_SERVER.exists(), reason="nats-server binary not installed in .venv")


# --- the shipped manifests, rendered through the real templates ------------------------------

def manifest_properties(manifest: str) -> dict[str, dict[str, Any]]:
    """Job name -> properties of deployments/<manifest>, with freshly generated variables."""
    doc = load_yaml_file(REPO / "deployments" / manifest)
    doc, _ = interpolate(doc, generate_variables(doc.get("variables") or [], {}), manifest)
    return {job["name"]: job.get("properties") or {} for group in doc["instance_groups"] for job in group["jobs"]}


def release_job(release: str, name: str, properties: dict[str, Any]) -> JobForRender:
    directory = REPO / "releases" / release / "jobs" / name
    spec = JobSpec.model_validate(yaml.safe_load((directory / "spec").read_text()))
    templates = {src: (directory / "templates" / src).read_text() for src in spec.templates}
    return JobForRender(name, spec, (directory / "monit").read_text(), templates, properties)


def instance(name: str, index: int, address: str) -> dict[str, Any]:
    return {"deployment": "test", "name": name, "id": f"{name}-{index}-uuid", "index": index, "az": "z1",
            "bootstrap": index == 0, "networks": {"default": {"ip": address, "default": ["dns", "gateway"]}}}


def render(job: JobForRender, spec: dict[str, Any], links: dict[str, Any]) -> dict[str, str]:
    return render_instance_jobs([job], spec, {job.name: links}).files[job.name]


@dataclass(frozen=True)
class NatsNode:
    address: str
    port: int
    cluster_port: int
    http_port: int
    config: str

    @property
    def url(self) -> str:
        return f"nats://{self.address}:{self.port}"


def nats_cluster(properties: dict[str, Any], addresses: list[str], http_port: int = 0) -> tuple[list[NatsNode], dict]:
    """The nats job of a manifest rendered for instances at ``addresses`` (loopback addresses
    stand for VMs); only the ports are changed, to free ones. Returns the nodes and the link."""
    port, cluster_port = free_port(addresses[0]), free_port(addresses[0])
    nats = {**(properties.get("nats") or {}), "port": port, "cluster_port": cluster_port, "http_port": http_port}
    props = {**properties, "nats": nats}
    job = release_job("nats", "nats", props)
    instances = [{"name": "nats", "id": f"nats-{i}-uuid", "index": i, "az": "z1", "address": a}
                 for i, a in enumerate(addresses)]
    link = link_from_provider(job.spec, props, "nats", instances, deployment="test")
    nodes = [NatsNode(a, port, cluster_port, http_port,
                      render(job, instance("nats", i, a), {"nats": link})["config/nats.conf"])
             for i, a in enumerate(addresses)]
    return nodes, link


def component_credentials(properties: dict[str, dict[str, Any]], link: dict) -> dict[str, tuple[str | None, str | None]]:
    """Each CF component's NATS user and password as its rendered config file holds them."""
    cc_job = release_job("cloud_controller", "cloud_controller", properties["cloud_controller"])
    cc_link = link_from_provider(cc_job.spec, properties["cloud_controller"], "cloud_controller",
                                 [{"name": "cloud_controller", "id": "cc-0", "index": 0, "address": "127.3.0.5"}])
    links = {"router": {"nats": link}, "dea": {"nats": link}, "cloud_controller": {"nats": link},
             "health_manager": {"nats": link, "cloud_controller": cc_link}}
    credentials = {}
    for index, name in enumerate(COMPONENTS):
        files = render(release_job(name, name, properties[name]), instance(name, 0, f"127.3.0.{20 + index}"),
                       links[name])
        nats = json.loads(files[CONFIG_FILES[name]])["nats"]
        credentials[name] = (nats["user"], nats["password"])
    return credentials


# --- processes ------------------------------------------------------------------------------

def accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def nats_servers(configs: list[ServerConfig], directory: Path) -> Iterator[list[subprocess.Popen]]:
    """Run one nats-server per (name, config text, (client address, port)) and wait until
    each accepts clients; every process is ended by its own handle, even on failure."""
    processes: list[subprocess.Popen] = []
    try:
        for name, text, _ in configs:
            path = directory / f"{name}.conf"
            path.write_text(text)
            with open(directory / f"{name}.log", "w") as log:
                processes.append(subprocess.Popen([NATS_SERVER, "-c", str(path)], stdout=log,
                                                  stderr=subprocess.STDOUT))
        for (name, _, (address, port)), process in zip(configs, processes):
            wait_until(lambda p=process, a=address, n=port: p.poll() is not None or accepts(a, n), 15,
                       message=f"nats-server {name} on {address}:{port}")
            assert process.poll() is None, (directory / f"{name}.log").read_text()
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Client:
    """One connection with some credentials, keeping the errors the server sends it
    (a refused publish or subscription arrives as an asynchronous -ERR)."""

    def __init__(self, bus: Bus, errors: list[str]) -> None:
        self.bus = bus
        self.errors = errors

    @classmethod
    async def connect(cls, url: str, credentials: tuple[str | None, str | None]) -> "Client":
        errors: list[str] = []

        async def on_error(error: Exception) -> None:
            errors.append(str(error).lower())

        user, password = credentials
        client = await nats.connect(servers=[url], user=user, password=password, inbox_prefix=inbox_prefix(user),
                                    error_cb=on_error, allow_reconnect=False, connect_timeout=5)
        return cls(Bus(client), errors)

    async def collect(self, subject: str) -> list[str]:
        """Subscribe to ``subject``; the returned list fills with the ``mark`` of each message
        received (its subject when it has none)."""
        received: list[str] = []

        async def on_message(msg: Any) -> None:
            try:
                received.append(json.loads(msg.data)["mark"])
            except (ValueError, KeyError, TypeError):
                received.append(msg.subject)

        await self.bus.client.subscribe(subject, cb=on_message)
        await self.settle()
        return received

    async def publish(self, subject: str, payload: dict[str, Any] | None = None) -> None:
        await self.bus.publish(subject, payload or {"droplet": "victim-app"})
        await self.settle()

    async def settle(self) -> None:
        """Return once the server has processed everything sent so far. Two flushes: nats-py
        2.16 writes a flush's PING straight to the socket, ahead of commands still waiting for
        its flusher task, so the first PONG does not prove a SUB or PUB arrived (about one
        time in twenty here); the second PING leaves after them."""
        await self.bus.client.flush()
        await self.bus.client.flush()

    def refused(self, action: str, subject: str) -> bool:
        return any(f"permissions violation for {action} to \"{subject.lower()}\"" in e
                   or f"permissions violation for {action} \"{subject.lower()}\"" in e for e in self.errors)

    async def close(self) -> None:
        await self.bus.client.close()


# --- per-component users (deployments/cf.yml) ------------------------------------------------

@pytest.fixture(scope="module")
def cf_bus(tmp_path_factory) -> Iterator[tuple[str, dict[str, tuple[str | None, str | None]]]]:
    """cf.yml's nats job running on 127.3.0.2, and every component's credentials."""
    properties = manifest_properties("cf.yml")
    [node], link = nats_cluster(properties["nats"], ["127.3.0.2"])
    credentials = component_credentials(properties, link)
    with nats_servers([("cf-nats", node.config, (node.address, node.port))], tmp_path_factory.mktemp("cf-nats")):
        yield node.url, credentials


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
    """Whether ``predicate`` holds within ``timeout`` (the machine may be busy: what must
    arrive is waited for; what must not is given QUIET more once the rightful message came)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_each_component_has_its_own_user(cf_bus):
    _, credentials = cf_bus
    users = {name: user for name, (user, _) in credentials.items()}
    assert all(users.values()) and len(set(users.values())) == len(COMPONENTS), users
    assert len({password for _, password in credentials.values()}) == len(COMPONENTS)


VICTIM = "0-victim-dea-uuid"

# attacker, subject it publishes, component that listens there, component allowed to publish it
FORBIDDEN_PUBLISH = [
    ("dea", f"dea.{VICTIM}.start", "dea", "cloud_controller"),
    ("dea", f"staging.{VICTIM}.start", "dea", "cloud_controller"),
    ("dea", "dea.stop", "dea", "cloud_controller"),
    ("dea", "health.stop", "cloud_controller", "health_manager"),
    ("router", "router.register", "router", "dea"),
    ("router", "dea.stop", "dea", "cloud_controller"),
    ("health_manager", f"dea.{VICTIM}.start", "dea", "cloud_controller"),
    ("health_manager", "router.register", "router", "dea"),
    ("cloud_controller", "router.register", "router", "dea"),
    ("cloud_controller", "dea.heartbeat", "health_manager", "dea"),
]


@pytest.mark.parametrize("attacker, subject, listener, owner", FORBIDDEN_PUBLISH,
                         ids=[f"{a}-publishes-{s}" for a, s, _, _ in FORBIDDEN_PUBLISH])
def test_component_cannot_publish_what_is_not_its_own(cf_bus, attacker, subject, listener, owner):
    url, credentials = cf_bus

    async def attack() -> None:
        victim = await Client.connect(url, credentials[listener])
        intruder = await Client.connect(url, credentials[attacker])
        rightful = await Client.connect(url, credentials[owner])
        try:
            received = await victim.collect(subject)
            assert not victim.errors, victim.errors
            await intruder.publish(subject, {"mark": "forged", "droplet": "victim-app",
                                             "uris": ["victim.bosh-py.local"]})
            await rightful.publish(subject, {"mark": "rightful"})
            assert await eventually(lambda: "rightful" in received), f"{owner} may publish {subject}"
            await asyncio.sleep(QUIET)
            assert received == ["rightful"], f"{attacker}'s credentials published {subject}"
            assert await eventually(lambda: intruder.refused("publish", subject)), intruder.errors
        finally:
            for client in (victim, intruder, rightful):
                await client.close()

    run(attack())


# attacker, subject it subscribes to, who publishes there, subject published, who may read it
FORBIDDEN_SUBSCRIBE = [
    ("dea", "health.start", "health_manager", "health.start", "cloud_controller"),
    ("dea", ">", "health_manager", "health.stop", "cloud_controller"),
    ("dea", "router.register", "dea", "router.register", "router"),
    ("router", "dea.*.start", "cloud_controller", f"dea.{VICTIM}.start", "dea"),
    ("router", "staging.>", "cloud_controller", f"staging.{VICTIM}.start", "dea"),
    ("health_manager", "dea.*.start", "cloud_controller", f"dea.{VICTIM}.start", "dea"),
    ("health_manager", "dea.update", "cloud_controller", "dea.update", "dea"),
]


@pytest.mark.parametrize("attacker, pattern, publisher, subject, reader", FORBIDDEN_SUBSCRIBE,
                         ids=[f"{a}-reads-{p}" for a, p, _, _, _ in FORBIDDEN_SUBSCRIBE])
def test_component_cannot_read_what_is_not_for_it(cf_bus, attacker, pattern, publisher, subject, reader):
    url, credentials = cf_bus

    async def attack() -> None:
        intruder = await Client.connect(url, credentials[attacker])
        rightful = await Client.connect(url, credentials[reader])
        sender = await Client.connect(url, credentials[publisher])
        try:
            stolen = await intruder.collect(pattern)
            delivered = await rightful.collect(subject)
            await sender.publish(subject, {"mark": "secret"})
            assert await eventually(lambda: delivered), f"{reader} reads {subject} from {publisher}"
            await asyncio.sleep(QUIET)
            assert delivered == ["secret"] and stolen == [], \
                f"{attacker}'s credentials read {subject} through {pattern!r}"
            assert await eventually(lambda: intruder.refused("subscription", pattern)), intruder.errors
        finally:
            for client in (intruder, rightful, sender):
                await client.close()

    run(attack())


def test_replies_reach_only_the_component_that_asked(cf_bus):
    """The cloud controller asks the DEAs (dea.find.droplet: several answers; staging:
    request/reply); a DEA answers; another DEA's and a router's credentials listening to
    every inbox get nothing, and a DEA cannot answer a request it never received."""
    url, credentials = cf_bus

    async def attack() -> None:
        cc = await Client.connect(url, credentials["cloud_controller"])
        dea = await Client.connect(url, credentials["dea"])
        other_dea = await Client.connect(url, credentials["dea"])
        router = await Client.connect(url, credentials["router"])
        try:
            stolen = {"dea: _INBOX.>": await other_dea.collect("_INBOX.>"),
                      "router: _INBOX.>": await router.collect("_INBOX.>"),
                      "dea: _INBOX.cloud_controller.>": await other_dea.collect("_INBOX.cloud_controller.>")}

            async def find(payload: dict, msg: Any) -> None:
                for index in range(3):   # one answer per running instance
                    await dea.bus.reply(msg, {"index": index})

            async def stage(payload: dict, msg: Any) -> None:
                await dea.bus.reply(msg, {"droplet_sha1": "x", "log": ""})

            await dea.bus.subscribe("dea.find.droplet", find)
            await dea.bus.subscribe(f"staging.{VICTIM}.start", stage)
            await dea.settle()
            answers = await cc.bus.gather_replies("dea.find.droplet", {"droplet": "victim-app"}, timeout=10,
                                                 limit=3)
            assert sorted(a["index"] for a in answers) == [0, 1, 2], dea.errors + cc.errors
            assert await cc.bus.request(f"staging.{VICTIM}.start", {"app_id": "victim-app"}, timeout=5) == {
                "droplet_sha1": "x", "log": ""}
            forged = cc.bus.client.new_inbox()
            forged_seen = await cc.collect(forged)
            await dea.publish(forged, {"droplet_sha1": "forged"})
            await asyncio.sleep(QUIET)
            assert stolen == {name: [] for name in stolen}, "replies to the cloud controller read by others"
            assert forged_seen == [], "a DEA answered a request it never received"
            assert await eventually(lambda: other_dea.refused("subscription", "_INBOX.>")
                                    and router.refused("subscription", "_INBOX.>"))
            assert not cc.errors, cc.errors
        finally:
            for client in (cc, dea, other_dea, router):
                await client.close()

    run(attack())


# --- cluster routes and the monitoring port (both shipped manifests) ----------------------------

# manifest, user that publishes, user that subscribes, subject (from the manifest's nats users)
CLUSTER_CASES = [("cf.yml", "health_manager", "cloud_controller", "health.start"),
                 ("nats.yml", "nats", "nats", "bosh-py.check")]


def nats_user(properties: dict[str, Any], name: str) -> tuple[str, str]:
    """The credentials of user ``name`` in the nats job's properties, else of the shared
    ``nats.user`` (a manifest with one user for everything)."""
    nats = properties["nats"]
    for entry in nats.get("users") or []:
        if entry["user"] == name:
            return entry["user"], entry["password"]
    return nats["user"], nats["password"]


def extra_server(name: str, address: str, cluster_name: str, route_urls: list[str]) -> ServerConfig:
    """A nats-server of the attacker's: no client authentication, routes to the real servers."""
    port, cluster_port = free_port(address), free_port(address)
    routes = ", ".join(json.dumps(url) for url in route_urls)
    text = (f'server_name: "{name}"\nlisten: "{address}:{port}"\n'
            f'cluster {{\n  name: {json.dumps(cluster_name)}\n  listen: "{address}:{cluster_port}"\n'
            f'  routes = [{routes}]\n}}\n')
    return name, text, (address, port)


@pytest.mark.parametrize("manifest, publisher, subscriber, subject", CLUSTER_CASES,
                         ids=[c[0] for c in CLUSTER_CASES])
def test_server_without_cluster_credentials_cannot_join(tmp_path, manifest, publisher, subject, subscriber):
    properties = manifest_properties(manifest)["nats"]
    nodes, _ = nats_cluster(properties, ["127.3.1.2", "127.3.1.3"])
    cluster_name = next(line.split(":", 1)[1].strip().strip('"') for line in nodes[0].config.splitlines()
                        if line.strip().startswith("name:"))
    nats = properties["nats"]
    password = nats.get("cluster_password")
    credentials = f"{nats.get('cluster_user', 'route')}:{password}@" if password else ""
    rogue = extra_server("rogue", "127.3.1.9", cluster_name,
                         [f"nats-route://{n.address}:{n.cluster_port}" for n in nodes])
    friend = extra_server("friend", "127.3.1.10", cluster_name,
                          [f"nats-route://{credentials}{n.address}:{n.cluster_port}" for n in nodes])
    cluster = [(f"nats-{i}", n.config, (n.address, n.port)) for i, n in enumerate(nodes)]

    def rogue_refused() -> bool:
        return any("Router connection closed: Authentication Failure" in (tmp_path / f"nats-{i}.log").read_text()
                   for i in range(len(nodes)))

    async def attack() -> None:
        sender = await Client.connect(nodes[0].url, nats_user(properties, publisher))
        receiver = await Client.connect(nodes[1].url, nats_user(properties, subscriber))
        spy = await Client.connect(f"nats://{rogue[2][0]}:{rogue[2][1]}", (None, None))
        ally = await Client.connect(f"nats://{friend[2][0]}:{friend[2][1]}", (None, None))
        try:
            across, with_credentials, stolen = (await receiver.collect(subject), await ally.collect(">"),
                                                await spy.collect(">"))
            for _ in range(100):   # until every route has formed or been refused
                await sender.publish(subject)
                await asyncio.sleep(0.2)
                if across and with_credentials and (rogue_refused() or stolen):
                    break
            assert across, "the real servers carry a message between them"
            assert with_credentials, "a server with the cluster credentials joins"
            for _ in range(5):
                await sender.publish(subject)
            await asyncio.sleep(QUIET)
            assert stolen == [], "a server without the cluster credentials received the cluster's messages"
            assert rogue_refused(), "the real servers refused the rogue route"
        finally:
            for client in (sender, receiver, spy, ally):
                await client.close()

    with nats_servers(cluster, tmp_path), nats_servers([rogue, friend], tmp_path):
        run(attack())


@pytest.mark.parametrize("manifest", ["cf.yml", "nats.yml"])
def test_monitoring_port_is_not_reachable_from_another_address(tmp_path, manifest):
    address, http_port = "127.3.2.2", free_port()
    [node], _ = nats_cluster(manifest_properties(manifest)["nats"], [address], http_port=http_port)
    with nats_servers([("nats", node.config, (node.address, node.port))], tmp_path):
        assert not accepts(address, http_port), "monitoring answers on the address other VMs reach"
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as response:
            assert response.status == 200, "monitoring still answers on the VM's own loopback"


def test_inbox_prefix_belongs_to_the_user():
    """The inbox a component's replies arrive on is named after its user, so a permission can
    grant a user its own replies only; a name that cannot be one subject token is refused."""
    assert inbox_prefix("cloud_controller") == "_INBOX.cloud_controller"
    assert inbox_prefix(None) == "_INBOX"
    for bad in ("a.b", "a*", "x >", "*"):
        with pytest.raises(ValueError, match="cannot name its reply inbox"):
            inbox_prefix(bad)
