"""Orgs, spaces and roles as users meet them: the admin makes an org, a space and users
through cf-py (users in the real UAA over SCIM), gives roles, and each user, logged in
with their own cf-py, sees and may change only what their role allows. The v2 answers are
checked too (403 with CF's error JSON; 404 for apps in spaces the user cannot see)."""

from __future__ import annotations

import httpx
import pytest

from .tenancy_support import ADMIN_PASSWORD, bearer, token_of

PASSWORDS = {"alice": "alice-pw-8Kq", "bob": "bob-pw-3Zt", "carol": "carol-pw-5Wm", "dave": "dave-pw-1Hx"}


@pytest.fixture
def world(cf_for, app_dir):
    """org acme/space dev: alice developer, bob auditor, carol org manager; dave no role.
    alice pushed app hello into acme/dev (not started: no DEA needed to run it)."""
    admin = cf_for("admin")
    admin.ok("login", "-u", "admin", env={"CF_PY_PASSWORD": ADMIN_PASSWORD})
    admin.ok("create-org", "acme")
    admin.ok("create-space", "dev", "-o", "acme")
    for name, password in PASSWORDS.items():
        admin.ok("create-user", name, env={"CF_PY_NEW_USER_PASSWORD": password})
    admin.ok("set-space-role", "alice", "acme", "dev", "SpaceDeveloper")
    admin.ok("set-space-role", "bob", "acme", "dev", "SpaceAuditor")
    admin.ok("set-org-role", "carol", "acme", "OrgManager")
    users = {}
    for name, password in PASSWORDS.items():
        users[name] = cf_for(name)
        users[name].ok("login", "-u", name, env={"CF_PY_PASSWORD": password})
    users["alice"].ok("target", "-o", "acme", "-s", "dev")
    users["alice"].ok("push", "hello", "-p", str(app_dir), "--no-start")
    return admin, users


def test_a_developer_pushes_into_the_targeted_space(world, cc):
    _, users = world
    apps = httpx.get(f"{cc.url}/v2/apps", headers=bearer(token_of(_uaa(cc), "admin", ADMIN_PASSWORD))).json()
    hello = [a for a in apps["resources"] if a["entity"]["name"] == "hello"]
    space = _space(cc, "acme", "dev")
    assert hello and hello[0]["entity"]["space_guid"] == space
    assert "hello" in users["alice"].ok("apps")
    users["alice"].ok("scale", "hello", "-i", "2")


def test_an_auditor_reads_and_changes_nothing(world, cc):
    _, users = world
    bob = users["bob"]
    bob.ok("target", "-o", "acme", "-s", "dev")
    assert "hello" in bob.ok("apps")
    for args in (("scale", "hello", "-i", "3"), ("delete", "-f", "hello"), ("stop", "hello")):
        result = bob(*args)
        assert result.returncode == 1, args
        assert "not authorized" in result.stderr and "CF-NotAuthorized" in result.stderr
    token = token_of(_uaa(cc), "bob", PASSWORDS["bob"])
    guid = _app_guid(cc, "hello")
    r = httpx.put(f"{cc.url}/v2/apps/{guid}", headers=bearer(token), json={"instances": 5})
    assert r.status_code == 403
    assert r.json() == {"code": 10003, "description": "You are not authorized to perform the requested action",
                        "error_code": "CF-NotAuthorized"}
    r = httpx.post(f"{cc.url}/v2/apps", headers=bearer(token), json={"name": "mine", "space_guid": _space(cc, "acme", "dev")})
    assert r.status_code == 403


def test_a_user_without_a_role_sees_nothing(world, cc):
    _, users = world
    dave = users["dave"]
    assert dave.ok("orgs").strip() == "No orgs found"
    assert "acme" not in dave.ok("orgs")
    result = dave("target", "-o", "acme")
    assert result.returncode == 1 and "not found" in result.stderr
    token = token_of(_uaa(cc), "dave", PASSWORDS["dave"])
    guid = _app_guid(cc, "hello")
    assert httpx.get(f"{cc.url}/v2/apps", headers=bearer(token)).json()["total_results"] == 0
    for method in ("GET", "PUT", "DELETE"):
        r = httpx.request(method, f"{cc.url}/v2/apps/{guid}", headers=bearer(token), json={})
        assert r.status_code == 404, (method, r.text)     # as CF: existence not revealed
        assert r.json()["error_code"] == "CF-AppNotFound"
    r = httpx.put(f"{cc.url}/v2/apps/{guid}/bits", headers=bearer(token), content=b"PK")
    assert r.status_code == 404
    # no space of its own: pushing without a target lands in the default space, refused
    r = httpx.post(f"{cc.url}/v2/apps", headers=bearer(token), json={"name": "sneaky"})
    assert r.status_code == 404 and r.json()["error_code"] == "CF-SpaceNotFound"


def test_an_org_manager_manages_spaces_and_roles_of_their_org_only(world, cc):
    admin, users = world
    carol, dave = users["carol"], users["dave"]
    admin.ok("create-org", "other")
    carol.ok("create-space", "staging", "-o", "acme")
    assert set(carol.ok("spaces", "-o", "acme").split()) == {"dev", "staging"}
    assert "hello" in _names(cc, token_of(_uaa(cc), "carol", PASSWORDS["carol"]))   # sees the org's apps
    carol.ok("set-space-role", "dave", "acme", "staging", "SpaceDeveloper")
    dave.ok("target", "-o", "acme", "-s", "staging")
    assert "No apps" in dave.ok("apps")
    assert "staging" in dave.ok("spaces", "-o", "acme") and "dev" not in dave.ok("spaces", "-o", "acme").split()
    # not in another org, not orgs themselves, not a developer's changes
    assert carol("create-space", "x", "-o", "other").returncode == 1
    assert carol("set-org-role", "dave", "other", "OrgManager").returncode == 1
    denied = carol("create-org", "mine")
    assert denied.returncode == 1 and "CF-NotAuthorized" in denied.stderr
    assert carol("scale", "hello", "-i", "2").returncode == 1
    # a developer gives no roles
    result = users["alice"]("set-space-role", "bob", "acme", "dev", "SpaceDeveloper")
    assert result.returncode == 1 and "CF-NotAuthorized" in result.stderr


def test_admin_sees_everything_and_bad_input_is_named(world, cc):
    admin, _ = world
    assert {"acme", "default"} <= set(admin.ok("orgs").split())
    taken = admin("create-org", "acme")
    assert taken.returncode == 1 and "CF-OrganizationNameTaken" in taken.stderr
    unknown = admin("set-space-role", "nobody", "acme", "dev", "SpaceDeveloper")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr and "CF-UserNotFound" in unknown.stderr
    bad_role = admin("set-space-role", "alice", "acme", "dev", "SpaceOwner")
    assert bad_role.returncode == 2 and "SpaceOwner" in bad_role.stderr
    token = token_of(_uaa(cc), "admin", ADMIN_PASSWORD)
    r = httpx.post(f"{cc.url}/v2/spaces", headers=bearer(token), json={"name": "", "organization_guid": "x"})
    assert r.status_code == 400 and r.json()["error_code"] == "CF-SpaceInvalid"
    r = httpx.post(f"{cc.url}/v2/apps", headers=bearer(token), json={"name": "x", "space_guid": "no-such"})
    assert r.status_code == 404 and r.json()["error_code"] == "CF-SpaceNotFound"
    # no password in the CC's log
    assert not any(p in cc.log() for p in (*PASSWORDS.values(), ADMIN_PASSWORD))


# -- helpers ------------------------------------------------------------------------------

def _uaa(cc) -> str:
    return cc.config["uaa"]["url"]


def _admin(cc) -> dict[str, str]:
    return bearer(token_of(_uaa(cc), "admin", ADMIN_PASSWORD))


def _names(cc, token: str) -> set[str]:
    return {a["entity"]["name"] for a in httpx.get(f"{cc.url}/v2/apps", headers=bearer(token)).json()["resources"]}


def _app_guid(cc, name: str) -> str:
    found = httpx.get(f"{cc.url}/v2/apps", params={"q": f"name:{name}"}, headers=_admin(cc)).json()["resources"]
    return found[0]["metadata"]["guid"]


def _space(cc, org: str, space: str) -> str:
    orgs = httpx.get(f"{cc.url}/v2/organizations", params={"q": f"name:{org}"}, headers=_admin(cc)).json()
    org_guid = orgs["resources"][0]["metadata"]["guid"]
    spaces = httpx.get(f"{cc.url}/v2/spaces", params=[("q", f"organization_guid:{org_guid}"), ("q", f"name:{space}")],
                       headers=_admin(cc)).json()
    return spaces["resources"][0]["metadata"]["guid"]


def test_another_space_cannot_take_an_apps_route(world, cc):
    """dave, developer of acme/staging, binds alice's route hello.<domain> to his own app:
    refused (the router would share hello's requests with his app)."""
    admin, _ = world
    admin.ok("create-space", "staging", "-o", "acme")
    admin.ok("set-space-role", "dave", "acme", "staging", "SpaceDeveloper")
    token = token_of(_uaa(cc), "dave", PASSWORDS["dave"])
    mine = httpx.post(f"{cc.url}/v2/apps", headers=bearer(token),
                      json={"name": "dave-app", "space_guid": _space(cc, "acme", "staging")})
    assert mine.status_code == 201, mine.text
    route = httpx.get(f"{cc.url}/v2/routes", params={"q": "host:hello"}, headers=bearer(token)).json()["resources"][0]
    r = httpx.put(f"{cc.url}/v2/apps/{mine.json()['metadata']['guid']}/routes/{route['metadata']['guid']}",
                  headers=bearer(token))
    assert r.status_code == 404 and r.json()["error_code"] == "CF-AppNotFound"
    assert httpx.delete(f"{cc.url}/v2/routes/{route['metadata']['guid']}", headers=bearer(token)).status_code == 404
    assert _app_guid(cc, "hello") in httpx.get(f"{cc.url}/v2/routes/{route['metadata']['guid']}",
                                               headers=_admin(cc)).json()["entity"]["app_guids"]
    assert _names(cc, token) == {"dave-app"}
