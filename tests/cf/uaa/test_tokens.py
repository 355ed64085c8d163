"""The token endpoint and the resource side of a real UAA process (tests/cf/uaa/uaa_support):
each grant, wrong credentials, refresh and revocation, RS256 checked with the host's own
``cryptography`` against /token_keys, forged tokens refused, nothing secret in the log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.harness import wait_until

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


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key_from_jwk(jwk: dict) -> rsa.RSAPublicKey:
    def number(field: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(jwk[field] + "=" * (-len(jwk[field]) % 4)), "big")
    return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()


def check_token(http, token: str):
    return http.post("/check_token", headers=basic("admin", ADMIN_CLIENT_SECRET), data={"token": token})


def sign_with(key_pem: str, header: dict, claims: dict) -> str:
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))


def test_password_grant_gives_an_rs256_token_that_token_keys_verifies(http, signing_key):
    response = password_grant(http, "admin", ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["refresh_token"]
    header, claims, signature = jwt_parts(body["access_token"])
    assert header == {"alg": "RS256", "kid": "key-1", "typ": "JWT"}
    assert claims["user_name"] == "admin" and claims["client_id"] == "cf"
    assert set(claims["scope"]) >= {"cloud_controller.admin", "cloud_controller.read",
                                    "cloud_controller.write", "openid", "scim.write"}
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 43200
    assert claims["iss"] == f"{http.base_url}".rstrip("/") + "/oauth/token"

    keys = http.get("/token_keys").json()["keys"]
    assert [k["kid"] for k in keys] == ["key-1"] and keys[0]["alg"] == "RS256"
    public = public_key_from_jwk(keys[0])
    signing_input = body["access_token"].rsplit(".", 1)[0].encode()
    public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())  # raises if not
    # ... and it is the deployment's key, not one the server made up
    own = serialization.load_pem_private_key(signing_key.encode(), password=None).public_key()
    assert own.public_numbers() == public.public_numbers()
    with pytest.raises(InvalidSignature):
        public.verify(signature, signing_input + b"x", padding.PKCS1v15(), hashes.SHA256())


def test_bad_credentials_answer_alike_whatever_was_wrong(http, uaa):
    admin = client_token(http)
    create_user(http, admin, "inactive-ivy", "ivy-pw-1")
    ivy = http.get("/Users", params={"filter": 'userName eq "inactive-ivy"'}, headers=bearer(admin)).json()
    http.patch(f"/Users/{ivy['resources'][0]['id']}", json={"active": False}, headers=bearer(admin))

    wrong_password = password_grant(http, "admin", "not-the-password")
    unknown_user = password_grant(http, "nobody-here", "whatever")
    inactive_user = password_grant(http, "inactive-ivy", "ivy-pw-1")
    for response in (wrong_password, unknown_user, inactive_user):
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized", "error_description": "Bad credentials"}

    wrong_secret = http.post("/oauth/token", headers=basic("admin", "wrong"), data={"grant_type": "client_credentials"})
    unknown_client = http.post("/oauth/token", headers=basic("no-client", "x"), data={"grant_type": "client_credentials"})
    no_client = http.post("/oauth/token", data={"grant_type": "client_credentials"})
    for response in (wrong_secret, unknown_client, no_client):
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized", "error_description": "Bad credentials"}


def test_client_credentials_and_check_token(http):
    response = http.post("/oauth/token", headers=basic("admin", ADMIN_CLIENT_SECRET),
                         data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    checked = check_token(http, body["access_token"])
    assert checked.status_code == 200, checked.text
    claims = checked.json()
    assert claims["client_id"] == "admin" and "user_id" not in claims
    assert set(claims["scope"]) == {"clients.read", "uaa.admin", "scim.read", "scim.write", "uaa.resource"}
    # a narrower scope may be asked for, a wider one not
    narrow = http.post("/oauth/token", headers=basic("admin", ADMIN_CLIENT_SECRET),
                       data={"grant_type": "client_credentials", "scope": "scim.read"})
    assert narrow.json()["scope"] == "scim.read"
    wider = http.post("/oauth/token", headers=basic("admin", ADMIN_CLIENT_SECRET),
                      data={"grant_type": "client_credentials", "scope": "cloud_controller.admin"})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


def test_a_client_gets_only_its_own_grant_types(http):
    cf_as_client = http.post("/oauth/token", headers=basic("cf", ""), data={"grant_type": "client_credentials"})
    assert cf_as_client.status_code == 400 and cf_as_client.json()["error"] == "unauthorized_client"
    admin_password = password_grant(http, "admin", ADMIN_PASSWORD, client="admin", secret=ADMIN_CLIENT_SECRET)
    assert admin_password.status_code == 400 and admin_password.json()["error"] == "unauthorized_client"
    # check_token needs a client with uaa.resource: the public cf client has not
    token = password_grant(http, "admin", ADMIN_PASSWORD).json()["access_token"]
    denied = http.post("/check_token", headers=basic("cf", ""), data={"token": token})
    assert denied.status_code == 403


def test_refresh_works_until_the_user_is_deleted_or_deactivated(http):
    admin = client_token(http)
    for how in ("delete", "deactivate"):
        name = f"refresh-{how}"
        user = create_user(http, admin, name, "pw-of-refresh-user")
        tokens = password_grant(http, name, "pw-of-refresh-user").json()
        refreshed = http.post("/oauth/token", headers=basic("cf", ""),
                              data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        new_access = refreshed.json()["access_token"]
        assert new_access != tokens["access_token"]
        assert jwt_parts(new_access)[1]["user_name"] == name
        assert check_token(http, new_access).status_code == 200

        if how == "delete":
            assert http.delete(f"/Users/{user['id']}", headers=bearer(admin)).status_code == 200
        else:
            assert http.patch(f"/Users/{user['id']}", json={"active": False}, headers=bearer(admin)).status_code == 200
        again = http.post("/oauth/token", headers=basic("cf", ""),
                          data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert again.status_code == 401 and again.json()["error"] == "invalid_token"
        # and the access tokens already handed out are refused where the UAA is asked
        assert check_token(http, new_access).status_code == 400
        assert http.get("/userinfo", headers=bearer(new_access)).status_code == 401


def test_a_refresh_token_is_not_an_access_token_nor_another_clients(http, uaa):
    tokens = password_grant(http, "admin", ADMIN_PASSWORD).json()
    assert check_token(http, tokens["refresh_token"]).status_code == 400
    assert http.get("/userinfo", headers=bearer(tokens["refresh_token"])).status_code == 401
    stolen = http.post("/oauth/token", headers=basic("admin", ADMIN_CLIENT_SECRET),
                       data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert stolen.status_code == 400  # admin has no refresh_token grant
    access_as_refresh = http.post("/oauth/token", headers=basic("cf", ""),
                                  data={"grant_type": "refresh_token", "refresh_token": tokens["access_token"]})
    assert access_as_refresh.status_code == 401


def test_check_token_refuses_forged_tokens(http, signing_key):
    good = password_grant(http, "admin", ADMIN_PASSWORD).json()["access_token"]
    header, claims, _ = jwt_parts(good)
    assert check_token(http, good).status_code == 200

    other_key = sign_with(new_signing_key(), header, claims)
    alg_none = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": "key-1"}).encode()) + "." + \
        b64url(json.dumps(claims).encode()) + "."
    # HS256 keyed with the public key /token_keys hands out (the key-confusion attack)
    public_pem = http.get("/token_keys").json()["keys"][0]["value"]
    hs_input = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode()) + "." + \
        b64url(json.dumps(claims).encode())
    hs256 = hs_input + "." + b64url(hmac.new(public_pem.encode(), hs_input.encode(), hashlib.sha256).digest())
    more_scope = sign_with(new_signing_key(), header, {**claims, "scope": claims["scope"] + ["uaa.admin"]})
    tampered = good.split(".")[0] + "." + b64url(json.dumps({**claims, "user_name": "someone"}).encode()) + \
        "." + good.split(".")[2]
    for forged in (other_key, alg_none, hs256, more_scope, tampered, "not-a-jwt", good + "x"):
        response = check_token(http, forged)
        assert response.status_code == 400, forged
        assert response.json()["error"] == "invalid_token"
        assert http.get("/userinfo", headers=bearer(forged)).status_code == 401
    # signed with the right key but by another UAA (issuer) is not ours either
    foreign = sign_with(signing_key, header, {**claims, "iss": "http://elsewhere/oauth/token"})
    assert check_token(http, foreign).status_code == 400


def test_userinfo_needs_openid(http):
    token = password_grant(http, "admin", ADMIN_PASSWORD).json()["access_token"]
    info = http.get("/userinfo", headers=bearer(token))
    assert info.status_code == 200, info.text
    assert info.json()["user_name"] == "admin" and info.json()["user_id"] == jwt_parts(token)[1]["user_id"]
    no_openid = password_grant(http, "admin", ADMIN_PASSWORD, scope="cloud_controller.read").json()["access_token"]
    assert jwt_parts(no_openid)[1]["scope"] == ["cloud_controller.read"]
    assert http.get("/userinfo", headers=bearer(no_openid)).status_code == 403
    assert http.get("/userinfo").status_code == 401


def test_tokens_expire(tmp_path, crypto_package):
    uaa = start_uaa(tmp_path / "short", crypto_package, jwt={"access_token_validity": 1})
    try:
        with uaa.client() as http:
            body = password_grant(http, "admin", ADMIN_PASSWORD).json()
            assert body["expires_in"] == 1
            token = body["access_token"]
            exp = jwt_parts(token)[1]["exp"]
            response = wait_until(lambda: (r := check_token(http, token)).status_code == 400 and r,
                                  timeout=10, interval=0.2, message="the token expires")
            assert "expired" in response.json()["error_description"]
            assert time.time() >= exp
            assert http.get("/userinfo", headers=bearer(token)).status_code == 401
    finally:
        uaa.stop()


def test_no_secret_reaches_the_log(http, uaa):
    tokens = password_grant(http, "admin", ADMIN_PASSWORD).json()
    admin = client_token(http)
    http.get("/Users", params={"filter": 'userName eq "admin"'}, headers=bearer(admin))
    password_grant(http, "admin", "wrong-pw-should-not-be-logged")
    log = uaa.log()
    assert "POST /oauth/token -> 200" in log  # the log is being written
    for secret in (ADMIN_PASSWORD, ADMIN_CLIENT_SECRET, "wrong-pw-should-not-be-logged",
                   tokens["access_token"][:40], tokens["access_token"].split(".")[2][:20],
                   tokens["refresh_token"].split(".")[2][:20], admin.split(".")[2][:20], "PRIVATE KEY"):
        assert secret not in log
