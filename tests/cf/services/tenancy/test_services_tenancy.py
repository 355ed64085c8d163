"""Service instances in spaces, bindings that follow their apps, brokers for admins only:
a real UAA, a real CC that trusts it (tests/cf/tenancy's fixtures), cf-py run as each user
runs it, and a scripted broker that records what it was asked.

The world: org acme with spaces dev and ops. alice develops in dev, bob audits dev, dave
develops in ops, eve has no role. alice pushed app ``web`` and made service instance ``db``
in dev and bound it; dave pushed ``intruder`` in ops.
"""

from __future__ import annotations

import httpx
import pytest

from tests.cf.services.scripted_broker import VALID_CATALOG, Answer, ScriptedBroker
from tests.cf.tenancy.tenancy_support import ADMIN_PASSWORD, bearer, token_of

PASSWORDS = {"alice": "alice-pw-4Rt", "bob": "bob-pw-7Yu", "dave": "dave-pw-2Ji", "eve": "eve-pw-9Op"}
SECRET = "db-secret-Vq3-never-shown"
HIDDEN = "[PRIVATE DATA HIDDEN]"


@pytest.fixture
def broker():
    b = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                        ("PUT", "/v2/service_instances/"): Answer(201, {}),
                        ("DELETE", "/v2/service_instances/"): Answer(200, {})}).start()
    yield b
    b.stop()


@pytest.fixture
def world(cf_for, app_dir, broker, cc):
    admin = cf_for("admin")
    admin.ok("login", "-u", "admin", env={"CF_PY_PASSWORD": ADMIN_PASSWORD})
    admin.ok("create-org", "acme")
    admin.ok("create-space", "dev", "-o", "acme")
    admin.ok("create-space", "ops", "-o", "acme")
    for name, password in PASSWORDS.items():
        admin.ok("create-user", name, env={"CF_PY_NEW_USER_PASSWORD": password})
    admin.ok("set-space-role", "alice", "acme", "dev", "SpaceDeveloper")
    admin.ok("set-space-role", "bob", "acme", "dev", "SpaceAuditor")
    admin.ok("set-space-role", "dave", "acme", "ops", "SpaceDeveloper")
    admin.ok("create-service-broker", "scripted", "u", "-", broker.url, env={"CF_PY_BROKER_PASSWORD": "p"})
    broker.answers[("PUT", "/v2/service_instances/")] = Answer(201, {})
    users = {}
    for name, password in PASSWORDS.items():
        users[name] = cf_for(name)
        users[name].ok("login", "-u", name, env={"CF_PY_PASSWORD": password})
    alice, dave = users["alice"], users["dave"]
    alice.ok("target", "-o", "acme", "-s", "dev")
    alice.ok("push", "web", "-p", str(app_dir), "--no-start")
    created = alice.ok("create-service", "scripted", "small", "db")
    assert "Creating service instance db in org acme / space dev..." in created and "OK" in created
    broker.answers[("PUT", "/v2/service_instances/" + _instance(cc, "db")["metadata"]["guid"]
                    + "/service_bindings/")] = Answer(201, {"credentials": {"password": SECRET}})
    alice.ok("bind-service", "web", "db")
    dave.ok("target", "-o", "acme", "-s", "ops")
    dave.ok("push", "intruder", "-p", str(app_dir), "--no-start")
    return admin, users


def test_a_developer_makes_binds_and_reads_the_credentials_in_their_space(world, cc, broker):
    _, users = world
    instance = _instance(cc, "db")
    assert instance["entity"]["space_guid"] == _space(cc, "dev")
    provision = next(q for q in broker.requests if q["method"] == "PUT" and "service_bindings" not in q["path"])
    assert provision["body"]["space_guid"] == _space(cc, "dev")     # the broker is told the real space
    listed = users["alice"].ok("services")
    assert "db" in listed and "web" in listed
    alice = _token(cc, "alice")
    bindings = httpx.get(f"{cc.url}/v2/service_bindings", headers=alice).json()["resources"]
    assert [b["entity"]["credentials"] for b in bindings] == [{"password": SECRET}]
    # an app that does not exist and one the developer cannot see answer alike
    r = httpx.post(f"{cc.url}/v2/service_bindings", headers=alice, json={
        "app_guid": _app(cc, "intruder"), "service_instance_guid": instance["metadata"]["guid"]})
    assert r.status_code == 404 and r.json()["error_code"] == "CF-AppNotFound"
    assert "OK" in users["alice"].ok("unbind-service", "web", "db")
    assert "OK" in users["alice"].ok("delete-service", "db", "-f")


def test_another_spaces_developer_sees_none_of_it_and_cannot_bind_or_unbind(world, cc, broker):
    """The hole this closes: any token with cloud_controller.write listed every binding with
    its credentials and could bind and unbind any app."""
    _, users = world
    dave = _token(cc, "dave")
    instance = _instance(cc, "db")["metadata"]["guid"]
    binding = httpx.get(f"{cc.url}/v2/service_bindings", headers=_admin(cc)).json()["resources"][0]
    guid = binding["metadata"]["guid"]
    for path in ("/v2/service_bindings", "/v2/service_instances", f"/v2/apps/{_app(cc, 'intruder')}/service_bindings"):
        r = httpx.get(cc.url + path, headers=dave)
        assert r.status_code == 200 and r.json()["resources"] == [] and SECRET not in r.text, path
    for method, path, code in (("GET", f"/v2/service_bindings/{guid}", "CF-ServiceBindingNotFound"),
                               ("DELETE", f"/v2/service_bindings/{guid}", "CF-ServiceBindingNotFound"),
                               ("GET", f"/v2/service_instances/{instance}", "CF-ServiceInstanceNotFound"),
                               ("DELETE", f"/v2/service_instances/{instance}", "CF-ServiceInstanceNotFound"),
                               ("GET", f"/v2/service_instances/{instance}/service_bindings",
                                "CF-ServiceInstanceNotFound"),
                               ("GET", f"/v2/apps/{_app(cc, 'web')}/service_bindings", "CF-AppNotFound")):
        r = httpx.request(method, cc.url + path, headers=dave)
        assert r.status_code == 404 and r.json()["error_code"] == code, (method, path, r.text)
        assert SECRET not in r.text
    asked = len(broker.requests)
    for app, code in ((_app(cc, "intruder"), "CF-ServiceInstanceNotFound"), (_app(cc, "web"), "CF-AppNotFound")):
        r = httpx.post(f"{cc.url}/v2/service_bindings", headers=dave,
                       json={"app_guid": app, "service_instance_guid": instance})
        assert r.status_code == 404 and r.json()["error_code"] == code, r.text
    assert len(broker.requests) == asked                     # the broker was never asked
    assert "No services found" in users["dave"].ok("services")
    result = users["dave"]("bind-service", "intruder", "db")
    assert result.returncode == 1 and "db not found" in result.stderr
    # making an instance in a space dave cannot see is refused as if the space did not exist
    plan = _plan(cc)
    r = httpx.post(f"{cc.url}/v2/service_instances", headers=dave,
                   json={"name": "mine", "service_plan_guid": plan, "space_guid": _space(cc, "dev")})
    assert r.status_code == 404 and r.json()["error_code"] == "CF-SpaceNotFound"
    r = httpx.post(f"{cc.url}/v2/service_instances", headers=dave,
                   json={"name": "mine", "service_plan_guid": plan, "space_guid": ["x"]})
    assert r.status_code == 400 and r.json()["error_code"] == "CF-ServiceInstanceInvalid"
    assert "space_guid" in r.json()["description"]
    # eve, with no role at all: the default space is not hers either
    r = httpx.post(f"{cc.url}/v2/service_instances", headers=_token(cc, "eve"),
                   json={"name": "mine", "service_plan_guid": plan})
    assert r.status_code == 404 and r.json()["error_code"] == "CF-SpaceNotFound"
    assert httpx.get(f"{cc.url}/v2/service_bindings", headers=_admin(cc)).json()["total_results"] == 1


def test_an_app_is_never_bound_to_another_spaces_instance(world, cc):
    """Even a user who may change both (here the admin): CF refuses binding across spaces."""
    admin, users = world
    users["dave"].ok("create-service", "scripted", "small", "ops-db")
    admin.ok("target", "-o", "acme", "-s", "ops")          # cf-py services lists the targeted space's
    assert {line.split()[0] for line in admin.ok("services").splitlines()[1:]} == {"ops-db"}
    r = httpx.post(f"{cc.url}/v2/service_bindings", headers=_admin(cc), json={
        "app_guid": _app(cc, "web"), "service_instance_guid": _instance(cc, "ops-db")["metadata"]["guid"]})
    assert r.status_code == 400 and r.json()["error_code"] == "CF-ServiceBindingInvalid"
    assert "different spaces" in r.json()["description"]
    assert _instance(cc, "ops-db")["entity"]["space_guid"] == _space(cc, "ops")


def test_an_auditor_sees_bindings_without_credentials_and_changes_nothing(world, cc, broker):
    _, users = world
    bob = _token(cc, "bob")
    instance = _instance(cc, "db")["metadata"]["guid"]
    web = _app(cc, "web")
    for path in ("/v2/service_bindings", f"/v2/apps/{web}/service_bindings",
                 f"/v2/service_instances/{instance}/service_bindings"):
        r = httpx.get(cc.url + path, headers=bob)
        assert [b["entity"]["credentials"] for b in r.json()["resources"]] == [HIDDEN], path
        assert SECRET not in r.text
    guid = r.json()["resources"][0]["metadata"]["guid"]
    assert httpx.get(f"{cc.url}/v2/service_bindings/{guid}", headers=bob).json()["entity"]["credentials"] == HIDDEN
    assert httpx.get(f"{cc.url}/v2/service_instances/{instance}", headers=bob).status_code == 200
    asked = len(broker.requests)
    for method, path, body in (("DELETE", f"/v2/service_bindings/{guid}", None),
                               ("DELETE", f"/v2/service_instances/{instance}", None),
                               ("POST", "/v2/service_instances", {"name": "x", "service_plan_guid": _plan(cc),
                                                                  "space_guid": _space(cc, "dev")})):
        r = httpx.request(method, cc.url + path, headers=bob, json=body)
        assert r.status_code == 403 and r.json()["error_code"] == "CF-NotAuthorized", (method, path, r.text)
    assert len(broker.requests) == asked
    # a developer's token narrowed to cloud_controller.read reads no secret either
    reader = bearer(token_of(cc.config["uaa"]["url"], "alice", PASSWORDS["alice"], scope="cloud_controller.read"))
    r = httpx.get(f"{cc.url}/v2/service_bindings/{guid}", headers=reader)
    assert r.status_code == 200 and r.json()["entity"]["credentials"] == HIDDEN
    result = users["bob"]("unbind-service", "web", "db")
    assert result.returncode == 1 and "CF-NotAuthorized" in result.stderr


def test_service_brokers_are_the_admins_alone(world, cc, broker):
    _, users = world
    alice = _token(cc, "alice")
    result = users["alice"]("create-service-broker", "mine", "u", "-", broker.url,
                            env={"CF_PY_BROKER_PASSWORD": "p"})
    assert result.returncode == 1 and "CF-NotAuthorized" in result.stderr
    broker_guid = httpx.get(f"{cc.url}/v2/service_brokers", headers=_admin(cc)).json()["resources"][0]["metadata"]["guid"]
    assert httpx.get(f"{cc.url}/v2/service_brokers", headers=alice).json()["resources"] == []
    r = httpx.get(f"{cc.url}/v2/service_brokers/{broker_guid}", headers=alice)
    assert r.status_code == 404 and r.json()["error_code"] == "CF-ServiceBrokerNotFound"
    r = httpx.delete(f"{cc.url}/v2/service_brokers/{broker_guid}", headers=alice)
    assert r.status_code == 403 and r.json()["error_code"] == "CF-NotAuthorized"
    assert sum(1 for q in broker.requests if q["path"] == "/v2/catalog") == 1      # only the admin's
    assert "scripted" in users["alice"].ok("marketplace")                           # the marketplace stays open
    assert not any(p in cc.log() for p in (SECRET, *PASSWORDS.values(), ADMIN_PASSWORD))


# -- helpers ------------------------------------------------------------------------------

def _token(cc, user: str) -> dict[str, str]:
    return bearer(token_of(cc.config["uaa"]["url"], user, PASSWORDS[user]))


def _admin(cc) -> dict[str, str]:
    return bearer(token_of(cc.config["uaa"]["url"], "admin", ADMIN_PASSWORD))


def _instance(cc, name: str) -> dict:
    found = httpx.get(f"{cc.url}/v2/service_instances", params={"q": f"name:{name}"}, headers=_admin(cc)).json()
    return found["resources"][0]


def _app(cc, name: str) -> str:
    found = httpx.get(f"{cc.url}/v2/apps", params={"q": f"name:{name}"}, headers=_admin(cc)).json()["resources"]
    return found[0]["metadata"]["guid"]


def _plan(cc) -> str:
    services = httpx.get(f"{cc.url}/v2/services", headers=_admin(cc)).json()["resources"]
    return services[0]["entity"]["service_plans"][0]["metadata"]["guid"]


def _space(cc, name: str) -> str:
    spaces = httpx.get(f"{cc.url}/v2/spaces", params={"q": f"name:{name}"}, headers=_admin(cc)).json()
    return spaces["resources"][0]["metadata"]["guid"]
