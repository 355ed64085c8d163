"""Who may learn a component's status credentials on NATS: deployments/cf.yml's nats job
and its permissions, on a real nats-server; each component's credentials read from its own
rendered config file. The router, the cloud controller and the health manager announce and
answer discover with their real code (cf_platform.component); only the operator's
``component_registry`` user reads what they say."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cf_platform.component import (
    ANNOUNCE,
    DISCOVER,
    Component,
    StatusSettings,
    announce_on,
)

from bosh_py.manifest import generate_variables, interpolate, load_yaml_file
from tests.harness import REPO
from tests.security.test_nats_bus import (
    NATS_SERVER,
    Client,
    component_credentials,
    nats_cluster,
    nats_servers,
)

pytestmark = pytest.mark.skipif(not NATS_SERVER.exists(), reason="nats-server binary not installed in .venv")


def _properties() -> dict[str, dict[str, Any]]:
    doc = load_yaml_file(REPO / "deployments" / "cf.yml")
    doc, _ = interpolate(doc, generate_variables(doc.get("variables") or [], {}), "cf.yml")
    return {job["name"]: job.get("properties") or {} for group in doc["instance_groups"] for job in group["jobs"]}


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    properties = _properties()
    [node], link = nats_cluster(properties["nats"], ["127.3.0.2"])
    credentials = component_credentials(properties, link)
    registry = next(u for u in properties["nats"]["nats"]["users"] if u["user"] == "component_registry")
    credentials["component_registry"] = (registry["user"], registry["password"])
    with nats_servers([("cf-nats", node.config, (node.address, node.port))], tmp_path_factory.mktemp("nats")):
        yield node.url, credentials


def _component(kind: str) -> Component:
    return Component(kind, 0, "127.3.0.20", StatusSettings(port=8080, user=f"{kind}-status", password=f"{kind}-pw"))


def test_components_announce_and_only_the_registry_learns_their_credentials(bus):
    url, credentials = bus

    async def scenario() -> None:
        registry = await Client.connect(url, credentials["component_registry"])
        heard = await registry.collect(ANNOUNCE)
        spies = {name: await Client.connect(url, credentials[name])
                 for name in ("dea", "health_manager", "cloud_controller")}
        spied = {name: await spy.collect(ANNOUNCE) for name, spy in spies.items()}
        speakers = {}
        for name, kind in (("router", "Router"), ("cloud_controller", "CloudController"),
                           ("health_manager", "HealthManager")):
            speakers[name] = await Client.connect(url, credentials[name])
            await announce_on(speakers[name].bus, _component(kind))
            await speakers[name].settle()
        for name, speaker in speakers.items():
            assert not speaker.errors, (name, speaker.errors)
        for _ in range(100):
            if len(heard) == 3:
                break
            await asyncio.sleep(0.02)
        assert sorted(heard) == [ANNOUNCE] * 3
        for name, spy in spies.items():
            assert spy.refused("subscription", ANNOUNCE), (name, spy.errors)
            assert spied[name] == []

        answers = await registry.bus.gather_replies(DISCOVER, {}, timeout=1.0)
        assert sorted(a["type"] for a in answers) == ["CloudController", "HealthManager", "Router"]
        assert {tuple(a["credentials"]) for a in answers} == {("Router-status", "Router-pw"),
                                                             ("CloudController-status", "CloudController-pw"),
                                                             ("HealthManager-status", "HealthManager-pw")}
        # a component's user cannot ask (it would choose where the answers go)
        for name, spy in spies.items():
            await spy.publish(DISCOVER, {})
            assert spy.refused("publish", DISCOVER), (name, spy.errors)
        for client in [registry, *spies.values(), *speakers.values()]:
            await client.close()
    asyncio.run(scenario())
