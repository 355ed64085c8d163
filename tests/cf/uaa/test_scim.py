"""SCIM on a real UAA process: users and group membership, admin-only (scim.write), and what
a user's groups do to the scopes of their next token."""

from __future__ import annotations

from tests.harness import free_port

from .uaa_support import (
    ADMIN_CLIENT_SECRET,
    ADMIN_PASSWORD,
    basic,
    bearer,
    client_token,
    create_user,
    jwt_parts,
    new_signing_key,
    password_grant,
    start_uaa,
)


def find_user(http, token: str, name: str) -> dict:
    response = http.get("/Users", params={"filter": f'userName eq "{name}"'}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def test_create_find_and_delete_a_user(http):
    admin = client_token(http)
    user = create_user(http, admin, "carol", "carol-pw-1")
    assert user["userName"] == "carol" and user["active"] is True and "password" not in user
    assert {g["display"] for g in user["groups"]} == {"openid", "cloud_controller.read",
                                                      "cloud_controller.write", "uaa.user"}
    found = find_user(http, admin, "carol")
    assert found["totalResults"] == 1 and found["resources"][0]["id"] == user["id"]
    assert find_user(http, admin, "nobody")["totalResults"] == 0

    token = password_grant(http, "carol", "carol-pw-1").json()["access_token"]
    assert set(jwt_parts(token)[1]["scope"]) == {"openid", "cloud_controller.read", "cloud_controller.write",
                                                 "uaa.user"}

    again = http.post("/Users", headers=bearer(admin), json={"userName": "CAROL", "password": "x"})
    assert again.status_code == 409
    assert http.delete(f"/Users/{user['id']}", headers=bearer(admin)).status_code == 200
    assert find_user(http, admin, "carol")["totalResults"] == 0
    assert password_grant(http, "carol", "carol-pw-1").status_code == 401
    assert http.delete(f"/Users/{user['id']}", headers=bearer(admin)).status_code == 404


def test_group_membership_becomes_a_scope(http):
    admin = client_token(http)
    user = create_user(http, admin, "dave", "dave-pw-1")
    groups = http.get("/Groups", params={"filter": 'displayName eq "cloud_controller.admin"'}, headers=bearer(admin))
    assert groups.status_code == 200 and groups.json()["totalResults"] == 1
    group_id = groups.json()["resources"][0]["id"]
    before = password_grant(http, "dave", "dave-pw-1").json()["access_token"]
    assert "cloud_controller.admin" not in jwt_parts(before)[1]["scope"]

    added = http.post(f"/Groups/{group_id}/members", headers=bearer(admin),
                      json={"origin": "uaa", "type": "USER", "value": user["id"]})
    assert added.status_code == 201, added.text
    after = password_grant(http, "dave", "dave-pw-1").json()["access_token"]
    assert "cloud_controller.admin" in jwt_parts(after)[1]["scope"]

    removed = http.delete(f"/Groups/{group_id}/members/{user['id']}", headers=bearer(admin))
    assert removed.status_code == 200
    last = password_grant(http, "dave", "dave-pw-1").json()["access_token"]
    assert "cloud_controller.admin" not in jwt_parts(last)[1]["scope"]


def test_scim_needs_scim_write(http):
    admin = client_token(http)
    create_user(http, admin, "erin", "erin-pw-1")
    erin = password_grant(http, "erin", "erin-pw-1").json()["access_token"]
    victim = find_user(http, admin, "admin")["resources"][0]["id"]
    read_only = http.post("/oauth/token", headers=basic("admin", ADMIN_CLIENT_SECRET),
                                            data={"grant_type": "client_credentials", "scope": "scim.read"}).json()["access_token"]
    group_id = http.get("/Groups", params={"filter": 'displayName eq "cloud_controller.admin"'},
                        headers=bearer(admin)).json()["resources"][0]["id"]
    erin_id = find_user(http, admin, "erin")["resources"][0]["id"]
    writes = [("POST", "/Users", {"userName": "mallory", "password": "m-pw"}),
              ("DELETE", f"/Users/{victim}", None),
              ("PATCH", f"/Users/{victim}", {"password": "taken-over"}),
              ("POST", f"/Groups/{group_id}/members", {"type": "USER", "value": erin_id})]
    for token, status in ((erin, 403), (read_only, 403), (None, 401), ("garbage", 401)):
        headers = bearer(token) if token else {}
        for method, path, body in writes:
            response = http.request(method, path, headers=headers, json=body)
            assert response.status_code == status, (method, path, token and token[:10], response.text)
        reads = http.get("/Users", params={"filter": 'userName eq "admin"'}, headers=headers)
        assert reads.status_code == (200 if token == read_only else status)
    # nothing of it happened
    assert find_user(http, admin, "mallory")["totalResults"] == 0
    assert password_grant(http, "admin", ADMIN_PASSWORD).status_code == 200
    assert "cloud_controller.admin" not in jwt_parts(password_grant(http, "erin", "erin-pw-1").json()["access_token"])[1]["scope"]


def test_bad_scim_input_is_named(http):
    admin = client_token(http)
    cases = [("POST", "/Users", {"password": "x"}, "userName"),
             ("POST", "/Users", {"userName": "frank"}, "password"),
             ("POST", "/Users", {"userName": "bad name!", "password": "x"}, "userName"),
             ("POST", "/Users", {"userName": "gina", "password": "x", "active": "yes"}, "active")]
    for method, path, body, named in cases:
        response = http.request(method, path, headers=bearer(admin), json=body)
        assert response.status_code == 400 and named in response.json()["error_description"], response.text
    bad_filter = http.get("/Users", params={"filter": 'email co "x"'}, headers=bearer(admin))
    assert bad_filter.status_code == 400 and bad_filter.json()["error"] == "invalid_filter"
    not_json = http.post("/Users", headers={**bearer(admin), "Content-Type": "application/json"}, content=b"{oops")
    assert not_json.status_code == 400


def test_users_and_refresh_tokens_survive_a_restart(tmp_path, crypto_package):
    key, port = new_signing_key(), free_port()
    first = start_uaa(tmp_path / "uaa", crypto_package, key, port)
    try:
        with first.client() as http:
            create_user(http, client_token(http), "henry", "henry-pw-1")
            refresh = password_grant(http, "henry", "henry-pw-1").json()["refresh_token"]
    finally:
        first.stop()
    second = start_uaa(tmp_path / "uaa", crypto_package, key, port)
    try:
        with second.client() as http:
            assert password_grant(http, "henry", "henry-pw-1").status_code == 200
            assert password_grant(http, "admin", ADMIN_PASSWORD).status_code == 200
            refreshed = http.post("/oauth/token", headers=basic("cf", ""),
                                  data={"grant_type": "refresh_token", "refresh_token": refresh})
            assert refreshed.status_code == 200, refreshed.text
    finally:
        second.stop()
