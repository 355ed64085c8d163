"""The UAA's and the log server's NATS users in deployments/cf.yml: each may announce itself
and answer vcap.component.discover, and nothing else. cf.yml's nats job runs as a real
nats-server; the UAA and the log server run as real processes with the configs their job
templates render from cf.yml's properties and the nats link; an attacker holding either's
credentials (read from that config file) is refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from cf_platform.component import ANNOUNCE, DISCOVER

from tests.cf.cc.plumbing import end_process
from tests.cf.logs.log_server_support import start_log_server
from tests.cf.uaa.uaa_support import build_package, start_uaa
from tests.harness import free_port
from tests.security.test_nats_bus import (
    NATS_SERVER,
    Client,
    eventually,
    instance,
    manifest_properties,
    nats_cluster,
    nats_servers,
    release_job,
    render,
)

pytestmark = pytest.mark.skipif(not NATS_SERVER.exists(), reason="nats-server binary not installed in .venv")


@pytest.fixture(scope="module")
def crypto_package(tmp_path_factory):
    return build_package(tmp_path_factory.mktemp("python3-cryptography-package"))


def _loopback_status(status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "listen_address": "127.0.0.1", "port": free_port()}


def test_uaa_and_log_server_announce_and_their_credentials_reach_nothing_else(tmp_path, crypto_package):
    properties = manifest_properties("cf.yml")
    [node], link = nats_cluster(properties["nats"], ["127.0.0.1"])
    registry = next(u for u in properties["nats"]["nats"]["users"] if u["user"] == "component_registry")
    uaa_props, log_props = properties["uaa"], properties["log_server"]
    with nats_servers([("cf-nats", node.config, (node.address, node.port))], tmp_path):
        uaa = start_uaa(tmp_path / "uaa", crypto_package, links={"nats": link},
                        extra_properties={"nats": uaa_props["nats"]},
                        status=_loopback_status(uaa_props["uaa"]["status"]))
        rendered = json.loads(render(
            release_job("log_server", "log_server",
                        {"nats": log_props["nats"],
                         "log_server": {**log_props["log_server"], "cloud_controller": {"url": "http://127.0.0.1:1"},
                                        "status": _loopback_status(log_props["log_server"]["status"])}}),
            instance("log_server", 0, "127.0.0.1"), {"nats": link})["config/log_server.json"])
        log_server = start_log_server(tmp_path / "log_server", "http://127.0.0.1:1", drain_refresh_interval=0,
                                      **{k: rendered[k] for k in ("senders", "status", "nats", "index", "host")})
        try:
            uaa_config = json.loads(uaa.config_path.read_text())
            credentials = {"uaa": (uaa_config["nats"]["user"], uaa_config["nats"]["password"]),
                           "log_server": (rendered["nats"]["user"], rendered["nats"]["password"])}
            assert credentials == {"uaa": ("uaa", uaa_props["nats"]["password"]),
                                   "log_server": ("log_server", log_props["nats"]["password"])}
            asyncio.run(_scenario(node.url, (registry["user"], registry["password"]), credentials,
                                  {"UAA": uaa_config["status"], "LogServer": rendered["status"]}))
            for process in (uaa.log(), log_server.log()):
                assert "ermissions violation" not in process.lower()
        finally:
            end_process(log_server.proc)
            uaa.stop()


async def _scenario(url: str, registry_credentials: tuple[str, str], credentials: dict[str, tuple[str, str]],
                    status: dict[str, dict[str, Any]]) -> None:
    registry = await Client.connect(url, registry_credentials)
    spies = {name: await Client.connect(url, pair) for name, pair in credentials.items()}
    try:
        answers: list[dict] = []
        for _ in range(100):   # the components connect in the background: ask until both answer
            answers = await registry.bus.gather_replies(DISCOVER, {}, timeout=0.5)
            if {a["type"] for a in answers} >= {"UAA", "LogServer"}:
                break
        by_type = {a["type"]: a for a in answers}
        for kind in ("UAA", "LogServer"):
            assert by_type[kind]["host"] == f"127.0.0.1:{status[kind]['port']}", answers
            assert by_type[kind]["credentials"] == [status[kind]["user"], status[kind]["password"]]
        for name, spy in spies.items():
            heard = await spy.collect(ANNOUNCE)          # another component's announcement: refused
            await spy.publish(DISCOVER, {})              # asking (choosing where answers go): refused
            await spy.publish("router.register", {"uris": ["victim.bosh-py.local"]})
            assert await eventually(lambda s=spy: s.refused("subscription", ANNOUNCE)
                                     and s.refused("publish", DISCOVER) and s.refused("publish", "router.register")), \
                (name, spy.errors)
            assert heard == []
    finally:
        for client in (registry, *spies.values()):
            await client.close()

