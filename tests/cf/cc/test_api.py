"""The cloud controller's REST API against a real CC process and a real nats-server."""

from __future__ import annotations

import httpx
import pytest

from tests.cf.cc.plumbing import eventually, make_zip

APP = {"app.py": "print('hi')\n"}


def create(cc, auth, name="hello", **fields):
    r = httpx.post(cc.url + "/v2/apps", json={"name": name, **fields}, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def test_info_is_open(cc):
    r = httpx.get(cc.url + "/v2/info")
    assert r.status_code == 200
    assert r.json()["app_domain"] == "apps.test"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "bearer nonsense"},
                                     {"Authorization": "bearer a.b.c"}, {"Authorization": "Basic YTpi"}])
def test_v2_needs_a_valid_token(cc, headers):
    r = httpx.get(cc.url + "/v2/apps", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error_code"] == "CF-InvalidAuthToken"
    assert body["code"] == 1000 and body["description"]


def test_token_signed_with_another_secret_is_refused(cc):
    from cf_platform.cloud_controller.auth import TokenIssuer
    forged = TokenIssuer("not-the-secret").issue("admin")["access_token"]
    r = httpx.get(cc.url + "/v2/apps", headers={"Authorization": f"bearer {forged}"})
    assert r.status_code == 401


def test_password_grant(cc):
    ok = httpx.post(cc.url + "/oauth/token", json={"grant_type": "password", "username": "admin",
                                                   "password": "admin-secret"})
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0 and body["access_token"]
    bad = httpx.post(cc.url + "/oauth/token", data={"grant_type": "password", "username": "admin",
                                                    "password": "wrong"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "unauthorized"
    other = httpx.post(cc.url + "/oauth/token", data={"grant_type": "client_credentials"})
    assert other.status_code == 400


def test_app_crud(cc, auth):
    app = create(cc, auth, memory=128, instances=2)
    guid = app["metadata"]["guid"]
    assert app["metadata"]["url"] == f"/v2/apps/{guid}"
    assert app["entity"]["state"] == "STOPPED" and app["entity"]["package_state"] == "PENDING"
    listed = httpx.get(cc.url + "/v2/apps", headers=auth).json()
    assert [a["entity"]["name"] for a in listed["resources"]] == ["hello"]
    by_name = httpx.get(cc.url + "/v2/apps", params={"q": "name:hello"}, headers=auth).json()
    assert by_name["total_results"] == 1
    r = httpx.put(cc.url + f"/v2/apps/{guid}", json={"instances": 3, "memory": 256}, headers=auth)
    assert r.status_code == 201 and r.json()["entity"]["instances"] == 3
    got = httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth).json()
    assert got["entity"]["memory"] == 256
    assert httpx.delete(cc.url + f"/v2/apps/{guid}", headers=auth).status_code == 204
    gone = httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth)
    assert gone.status_code == 404 and gone.json()["error_code"] == "CF-AppNotFound"


def test_name_taken(cc, auth):
    create(cc, auth, "dup")
    r = httpx.post(cc.url + "/v2/apps", json={"name": "dup"}, headers=auth)
    assert r.status_code == 400
    assert r.json()["error_code"] == "CF-AppNameTaken"
    other = create(cc, auth, "other")["metadata"]["guid"]
    r = httpx.put(cc.url + f"/v2/apps/{other}", json={"name": "dup"}, headers=auth)
    assert r.json()["error_code"] == "CF-AppNameTaken"


def test_negative_instances(cc, auth):
    r = httpx.post(cc.url + "/v2/apps", json={"name": "neg", "instances": -1}, headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == "CF-AppInvalid"
    guid = create(cc, auth, "neg")["metadata"]["guid"]
    r = httpx.put(cc.url + f"/v2/apps/{guid}", json={"instances": -3}, headers=auth)
    assert r.status_code == 400 and "instances less than 0" in r.json()["description"]
    assert httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth).json()["entity"]["instances"] == 1


def test_unknown_guid_and_path(cc, auth):
    for method, path in (("GET", "/v2/apps/nope"), ("PUT", "/v2/apps/nope"), ("DELETE", "/v2/apps/nope"),
                         ("PUT", "/v2/apps/nope/bits"), ("GET", "/v2/apps/nope/instances")):
        r = httpx.request(method, cc.url + path, headers=auth, json={})
        assert r.status_code == 404, (method, path)
        assert r.json()["error_code"] == "CF-AppNotFound"
    assert httpx.get(cc.url + "/v2/nothing", headers=auth).status_code == 404


def test_bad_json_is_400(cc, auth):
    r = httpx.post(cc.url + "/v2/apps", content=b"{not json", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == "CF-MessageParseError"


@pytest.mark.parametrize("body, why", [(b"", "empty"), (b"PK\x03\x04garbage" * 10, "not a zip"),
                                       (b"hello world", "not a zip")])
def test_bad_uploads(cc, auth, body, why):
    guid = create(cc, auth)["metadata"]["guid"]
    r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", content=body, headers=auth)
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "CF-AppBitsUploadInvalid"
    assert why in r.json()["description"]


def test_corrupt_zip_member_and_empty_multipart(cc, auth):
    guid = create(cc, auth)["metadata"]["guid"]
    good = bytearray(make_zip({"app.py": "x" * 1000}))
    good[40] ^= 0xFF  # flip a byte in the compressed data: CRC mismatch
    r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", files={"application": ("app.zip", bytes(good))}, headers=auth)
    assert r.status_code == 400 and "corrupt" in r.json()["description"]
    r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", files={"application": ("app.zip", b"")}, headers=auth)
    assert r.status_code == 400 and "empty" in r.json()["description"]
    r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", files={"other": ("x", b"1")}, headers=auth)
    assert r.status_code == 400 and "application" in r.json()["description"]


def test_upload_multipart_and_internal_download(cc, auth):
    guid = create(cc, auth)["metadata"]["guid"]
    data = make_zip(APP)
    r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", files={"application": ("app.zip", data)},
                  data={"resources": "[]"}, headers=auth)
    assert r.status_code == 201, r.text
    assert httpx.get(cc.url + f"/internal/apps/{guid}/bits").status_code == 401
    assert httpx.get(cc.url + f"/internal/apps/{guid}/bits", auth=("internal", "wrong")).status_code == 401
    got = httpx.get(cc.url + f"/internal/apps/{guid}/bits", auth=cc.internal_auth)
    assert got.status_code == 200 and got.content == data
    # a user token is no good on the internal API
    assert httpx.get(cc.url + "/internal/apps", headers=auth).status_code == 401


def test_start_without_bits_is_refused(cc, auth):
    guid = create(cc, auth)["metadata"]["guid"]
    r = httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == "CF-AppPackageInvalid"


def test_routes_and_domain(cc, auth, dea):
    domains = httpx.get(cc.url + "/v2/shared_domains", headers=auth).json()["resources"]
    assert [d["entity"]["name"] for d in domains] == ["apps.test"]
    domain_guid = domains[0]["metadata"]["guid"]
    guid = create(cc, auth)["metadata"]["guid"]
    r = httpx.post(cc.url + "/v2/routes", json={"host": "hello", "domain_guid": domain_guid}, headers=auth)
    assert r.status_code == 201
    route = r.json()["metadata"]["guid"]
    again = httpx.post(cc.url + "/v2/routes", json={"host": "hello", "domain_guid": domain_guid}, headers=auth)
    assert again.status_code == 400 and again.json()["error_code"] == "CF-RouteHostTaken"
    bad = httpx.post(cc.url + "/v2/routes", json={"host": "he llo", "domain_guid": domain_guid}, headers=auth)
    assert bad.status_code == 400
    nodomain = httpx.post(cc.url + "/v2/routes", json={"host": "x", "domain_guid": "nope"}, headers=auth)
    assert nodomain.status_code == 404
    r = httpx.put(cc.url + f"/v2/apps/{guid}/routes/{route}", headers=auth)
    assert r.status_code == 201 and r.json()["entity"]["uris"] == ["hello.apps.test"]
    found = httpx.get(cc.url + "/v2/routes", params={"q": "host:hello"}, headers=auth).json()
    assert found["resources"][0]["entity"]["app_guids"] == [guid]
    app_routes = httpx.get(cc.url + f"/v2/apps/{guid}/routes", headers=auth).json()
    assert app_routes["resources"][0]["entity"]["host"] == "hello"
    assert httpx.put(cc.url + f"/v2/apps/{guid}/routes/nope", headers=auth).status_code == 404


def test_internal_apps_is_the_desired_state(cc, auth):
    create(cc, auth, "one", instances=2, memory=64)
    apps = httpx.get(cc.url + "/internal/apps", auth=cc.internal_auth).json()
    assert apps[0].keys() >= {"guid", "name", "state", "instances", "version", "memory", "package_state"}
    assert (apps[0]["name"], apps[0]["instances"], apps[0]["memory"], apps[0]["state"]) == ("one", 2, 64, "STOPPED")


def test_state_survives_a_restart(tmp_path, nats_server, dea):
    from tests.cf.cc.plumbing import end_process, login, start_cc
    cc = start_cc(tmp_path / "cc", nats_server)
    try:
        auth = login(cc)
        create(cc, auth, "persistent")
    finally:
        end_process(cc.proc)
    cc2 = start_cc(tmp_path / "cc", nats_server, token_secret=cc.config["token_secret"], port=cc.port)
    try:
        # same secret: the old token still works after the restart
        names = [a["entity"]["name"] for a in httpx.get(cc2.url + "/v2/apps", headers=auth).json()["resources"]]
        assert names == ["persistent"]
    finally:
        end_process(cc2.proc)


def test_eventually_waits_for_a_value_and_fails_when_none_comes():
    """The waiter every CC test relies on: it must return what the check found, and fail (with
    the check's own message) rather than pass when the condition never holds."""
    calls = iter([None, 0, "found"])
    assert eventually(lambda: next(calls), timeout=2, interval=0.01) == "found"
    with pytest.raises(AssertionError, match="condition not met within 0.2s"):
        eventually(lambda: False, timeout=0.2, interval=0.01)

    def never() -> bool:
        raise AssertionError("the check's own reason")
    with pytest.raises(AssertionError, match="the check's own reason"):
        eventually(never, timeout=0.2, interval=0.01)
