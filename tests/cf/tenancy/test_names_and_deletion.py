"""Names unique per space, and deleting spaces and orgs, as users meet them: a real UAA, a
real CC that trusts it, cf-py run as each user runs it, and a scripted broker (a real HTTP
broker in the test process) that records what the CC asked it.

The world: org acme with spaces dev and ops. alice develops in dev, bob audits dev, carol
manages acme. alice pushed ``web`` into dev (routed at web.<domain>), made service instance
``db`` there and bound it to web.
"""

from __future__ import annotations

import httpx
import pytest

from tests.cf.services.scripted_broker import VALID_CATALOG, Answer, ScriptedBroker

from .tenancy_support import ADMIN_PASSWORD, bearer, token_of

PASSWORDS = {"alice": "alice-pw-6Gh", "bob": "bob-pw-2Lp", "carol": "carol-pw-8Dd"}


@pytest.fixture
def broker():
    b = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                        ("PUT", "/v2/service_instances/"): Answer(201, {"credentials": {"k": "v"}}),
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
    admin.ok("set-space-role", "alice", "acme", "ops", "SpaceDeveloper")
    admin.ok("set-space-role", "bob", "acme", "dev", "SpaceAuditor")
    admin.ok("set-org-role", "carol", "acme", "OrgManager")
    admin.ok("create-service-broker", "scripted", "u", "-", broker.url, env={"CF_PY_BROKER_PASSWORD": "p"})
    users = {}
    for name, password in PASSWORDS.items():
        users[name] = cf_for(name)
        users[name].ok("login", "-u", name, env={"CF_PY_PASSWORD": password})
    alice = users["alice"]
    alice.ok("target", "-o", "acme", "-s", "dev")
    alice.ok("push", "web", "-p", str(app_dir), "--no-start")
    alice.ok("create-service", "scripted", "small", "db")
    alice.ok("bind-service", "web", "db")
    return admin, users


# -- names ---------------------------------------------------------------------------------

def test_an_app_name_is_taken_in_its_space_and_free_in_another(world, cc, app_dir):
    _, users = world
    alice = _token(cc, "alice")
    dev, ops = _space(cc, "dev"), _space(cc, "ops")
    r = httpx.post(f"{cc.url}/v2/apps", headers=alice, json={"name": "web", "space_guid": dev})
    assert r.status_code == 400
    assert r.json() == {"code": 100002, "error_code": "CF-AppNameTaken", "description": "The app name is taken: web"}
    other = httpx.post(f"{cc.url}/v2/apps", headers=alice, json={"name": "web", "space_guid": ops})
    assert other.status_code == 201, other.text
    # renaming into a taken name is refused too, in the same space only
    api = httpx.post(f"{cc.url}/v2/apps", headers=alice, json={"name": "api", "space_guid": dev}).json()
    r = httpx.put(f"{cc.url}/v2/apps/{api['metadata']['guid']}", headers=alice, json={"name": "web"})
    assert r.status_code == 400 and r.json()["error_code"] == "CF-AppNameTaken"
    # cf-py acts on the targeted space's app of that name
    cf = users["alice"]
    cf.ok("target", "-o", "acme", "-s", "ops")
    cf.ok("scale", "web", "-i", "3")
    by_space = {a["entity"]["space_guid"]: a["entity"]["instances"] for a in _apps(cc, "web")}
    assert by_space == {dev: 1, ops: 3}


def test_a_service_instance_name_is_taken_in_its_space_and_free_in_another(world, cc):
    alice = _token(cc, "alice")
    plan = httpx.get(f"{cc.url}/v2/service_plans", headers=alice).json()["resources"][0]["metadata"]["guid"]
    r = httpx.post(f"{cc.url}/v2/service_instances", headers=alice,
                   json={"name": "db", "service_plan_guid": plan, "space_guid": _space(cc, "dev")})
    assert r.status_code == 400
    assert r.json() == {"code": 60002, "error_code": "CF-ServiceInstanceNameTaken",
                        "description": "The service instance name is taken: db"}
    r = httpx.post(f"{cc.url}/v2/service_instances", headers=alice,
                   json={"name": "db", "service_plan_guid": plan, "space_guid": _space(cc, "ops")})
    assert r.status_code == 201, r.text


def test_route_hosts_stay_unique_across_spaces(world, cc):
    """As in CF, a route (host and domain) is one across the whole CC, not per space."""
    alice = _token(cc, "alice")
    domain = httpx.get(f"{cc.url}/v2/shared_domains", headers=alice).json()["resources"][0]["metadata"]["guid"]
    r = httpx.post(f"{cc.url}/v2/routes", headers=alice, json={"host": "web", "domain_guid": domain})
    assert r.status_code == 400 and r.json()["error_code"] == "CF-RouteHostTaken"


# -- deleting spaces -----------------------------------------------------------------------

def test_a_space_with_apps_or_instances_is_not_deleted_without_recursive(world, cc):
    admin = _admin(cc)
    dev = _space(cc, "dev")
    r = httpx.delete(f"{cc.url}/v2/spaces/{dev}", headers=admin)
    assert r.status_code == 400
    assert r.json() == {"code": 10006, "error_code": "CF-AssociationNotEmpty",
                        "description": "Please delete the app_models, service_instances associations for your spaces."}
    assert httpx.get(f"{cc.url}/v2/spaces/{dev}", headers=admin).status_code == 200
    assert _apps(cc, "web")
    r = httpx.delete(f"{cc.url}/v2/spaces/{_space(cc, 'ops')}", headers=admin)   # empty: no recursive needed
    assert r.status_code == 204
    assert httpx.get(f"{cc.url}/v2/spaces/{dev}", headers=admin).status_code == 200


def test_recursive_deletes_apps_routes_bindings_and_instances_at_the_broker(world, cc, broker):
    admin = _admin(cc)
    dev = _space(cc, "dev")
    web = _apps(cc, "web")[0]["metadata"]["guid"]
    db = _instance(cc, "db")
    binding = httpx.get(f"{cc.url}/v2/service_bindings", headers=admin).json()["resources"][0]["metadata"]["guid"]
    route = httpx.get(f"{cc.url}/v2/routes", params={"q": "host:web"}, headers=admin).json()["resources"][0]
    broker.requests.clear()
    r = httpx.delete(f"{cc.url}/v2/spaces/{dev}", params={"recursive": "true"}, headers=admin, timeout=60)
    assert r.status_code == 204, r.text
    # at the broker: the binding revoked, then the instance deprovisioned
    asked = [(q["method"], q["path"].split("?")[0]) for q in broker.requests]
    assert asked == [("DELETE", f"/v2/service_instances/{db}/service_bindings/{binding}"),
                     ("DELETE", f"/v2/service_instances/{db}")]
    for path, code in ((f"/v2/apps/{web}", "CF-AppNotFound"), (f"/v2/service_instances/{db}", "CF-ServiceInstanceNotFound"),
                       (f"/v2/routes/{route['metadata']['guid']}", "CF-RouteNotFound"),
                       (f"/v2/spaces/{dev}", "CF-SpaceNotFound"), (f"/v2/service_bindings/{binding}",
                                                                  "CF-ServiceBindingNotFound")):
        got = httpx.get(cc.url + path, headers=admin)
        assert got.status_code == 404 and got.json()["error_code"] == code, (path, got.text)
    # the space's roles went with it: alice sees only ops now
    assert httpx.get(f"{cc.url}/v2/spaces", headers=_token(cc, "alice")).json()["resources"][0]["entity"]["name"] \
        == "ops"
    # the name is free again: a new space dev is a new, empty space
    assert httpx.post(f"{cc.url}/v2/spaces", headers=admin,
                      json={"name": "dev", "organization_guid": _org(cc)}).status_code == 201


def test_a_broker_that_refuses_to_unbind_stops_the_deletion_and_keeps_the_space(world, cc, broker):
    broker.answers[("DELETE", "/v2/service_instances/")] = Answer(500, {"description": "disk on fire"})
    dev = _space(cc, "dev")
    r = httpx.delete(f"{cc.url}/v2/spaces/{dev}", params={"recursive": "true"}, headers=_admin(cc), timeout=60)
    assert r.status_code == 502 and "disk on fire" in r.text
    assert httpx.get(f"{cc.url}/v2/spaces/{dev}", headers=_admin(cc)).status_code == 200
    assert _apps(cc, "web") and _instance(cc, "db")
    broker.answers[("DELETE", "/v2/service_instances/")] = Answer(200, {})   # fixed: deleting again finishes
    assert httpx.delete(f"{cc.url}/v2/spaces/{dev}", params={"recursive": "true"}, headers=_admin(cc),
                        timeout=60).status_code == 204
    assert not _apps(cc, "web")


def test_who_may_delete_a_space_and_an_org(world, cc):
    dev, org = _space(cc, "dev"), _org(cc)
    recursive = {"recursive": "true"}
    for user in ("alice", "bob"):           # a developer and an auditor of the space
        r = httpx.delete(f"{cc.url}/v2/spaces/{dev}", params=recursive, headers=_token(cc, user))
        assert r.status_code == 403 and r.json()["error_code"] == "CF-NotAuthorized", user
    assert _apps(cc, "web")
    r = httpx.delete(f"{cc.url}/v2/organizations/{org}", params=recursive, headers=_token(cc, "carol"))
    assert r.status_code == 403 and r.json()["error_code"] == "CF-NotAuthorized"
    r = httpx.delete(f"{cc.url}/v2/organizations/{org}", params=recursive, headers=_token(cc, "alice"))
    assert r.status_code == 403
    r = httpx.delete(f"{cc.url}/v2/spaces/{dev}", params=recursive, headers=_token(cc, "carol"), timeout=60)
    assert r.status_code == 204, r.text                  # the org manager may
    # an org with spaces needs recursive; only the admin deletes it
    r = httpx.delete(f"{cc.url}/v2/organizations/{org}", headers=_admin(cc))
    assert r.status_code == 400 and r.json()["code"] == 10006
    assert r.json()["description"] == "Please delete the spaces associations for your organizations."
    r = httpx.delete(f"{cc.url}/v2/organizations/{org}", params=recursive, headers=_admin(cc))
    assert r.status_code == 204
    r = httpx.get(f"{cc.url}/v2/organizations/{org}", headers=_admin(cc))
    assert r.status_code == 404 and r.json()["error_code"] == "CF-OrganizationNotFound"
    # the default org and space stay: pushes without a target land there
    default_org = httpx.get(f"{cc.url}/v2/organizations", params={"q": "name:default"},
                            headers=_admin(cc)).json()["resources"][0]["metadata"]["guid"]
    r = httpx.delete(f"{cc.url}/v2/organizations/{default_org}", params=recursive, headers=_admin(cc))
    assert r.status_code == 422 and "default org" in r.json()["description"]


def test_cf_py_delete_space_and_delete_org(world, cc, broker):
    admin, users = world
    carol, alice = users["carol"], users["alice"]
    carol.ok("target", "-o", "acme", "-s", "dev")
    cancelled = carol("delete-space", "dev", input="n\n")
    assert cancelled.returncode == 0 and "Really delete the space dev?" in cancelled.stdout
    assert "Delete cancelled" in cancelled.stdout and _apps(cc, "web")
    denied = alice("delete-space", "dev", "-f")
    assert denied.returncode == 1 and "CF-NotAuthorized" in denied.stderr
    done = carol("delete-space", "dev", input="y\n")
    assert done.returncode == 0, done.stderr
    assert "Deleting space dev in org acme as carol..." in done.stdout and done.stdout.rstrip().endswith("OK")
    assert not _apps(cc, "web") and not _instance(cc, "db", missing_ok=True)
    assert carol.ok("spaces", "-o", "acme").split() == ["ops"]
    assert "Space dev does not exist." in carol.ok("delete-space", "dev", "-o", "acme", "-f")
    target = carol.ok("target")                           # the deleted space is no longer targeted
    assert "Org: acme" in target and "Space: (none)" in target
    denied = carol("delete-org", "acme", "-f")
    assert denied.returncode == 1 and "CF-NotAuthorized" in denied.stderr
    admin.ok("target", "-o", "acme", "-s", "ops")
    out = admin.ok("delete-org", "acme", "-f")
    assert "Deleting org acme as admin..." in out and out.rstrip().endswith("OK")
    assert "acme" not in admin.ok("orgs").split()
    assert "Org: (none)" in admin.ok("target")             # the deleted org is no longer targeted
    assert "Org acme does not exist." in admin.ok("delete-org", "acme", "-f")


# -- helpers --------------------------------------------------------------------------------

def _uaa(cc) -> str:
    return cc.config["uaa"]["url"]


def _admin(cc) -> dict[str, str]:
    return bearer(token_of(_uaa(cc), "admin", ADMIN_PASSWORD))


def _token(cc, user: str) -> dict[str, str]:
    return bearer(token_of(_uaa(cc), user, PASSWORDS[user]))


def _org(cc) -> str:
    return httpx.get(f"{cc.url}/v2/organizations", params={"q": "name:acme"},
                     headers=_admin(cc)).json()["resources"][0]["metadata"]["guid"]


def _space(cc, name: str) -> str:
    spaces = httpx.get(f"{cc.url}/v2/spaces", params=[("q", f"organization_guid:{_org(cc)}"), ("q", f"name:{name}")],
                       headers=_admin(cc)).json()["resources"]
    return spaces[0]["metadata"]["guid"]


def _apps(cc, name: str) -> list[dict]:
    return httpx.get(f"{cc.url}/v2/apps", params={"q": f"name:{name}"}, headers=_admin(cc)).json()["resources"]


def _instance(cc, name: str, missing_ok: bool = False) -> str | None:
    found = httpx.get(f"{cc.url}/v2/service_instances", params={"q": f"name:{name}"},
                      headers=_admin(cc)).json()["resources"]
    if not found and missing_ok:
        return None
    return found[0]["metadata"]["guid"]
