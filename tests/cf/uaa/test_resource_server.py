"""A resource server trusting a real UAA process by its /token_keys alone (no shared secret),
as the cloud controller is to: good tokens pass, forged, expired, foreign and refresh tokens
do not, and a rotated key is picked up."""

from __future__ import annotations

import pytest
from cf_platform.uaa.jwt_tokens import SigningKey, TokenInvalid
from cf_platform.uaa.resource_server import UaaTokenVerifier

from tests.harness import free_port, wait_until

from .uaa_support import ADMIN_PASSWORD, jwt_parts, new_signing_key, password_grant, start_uaa


def test_verifies_tokens_by_the_uaa_public_key(http, uaa, signing_key):
    verifier = UaaTokenVerifier(uaa.url)
    tokens = password_grant(http, "admin", ADMIN_PASSWORD).json()
    claims = verifier.verify(tokens["access_token"])
    assert claims["user_name"] == "admin" and "cloud_controller.admin" in claims["scope"]

    _, good_claims, _ = jwt_parts(tokens["access_token"])
    ours = SigningKey.from_pem("key-1", signing_key)
    forged = SigningKey.from_pem("key-1", new_signing_key()).encode(good_claims)
    foreign = ours.encode({**good_claims, "iss": "http://elsewhere/oauth/token"})
    expired = ours.encode({**good_claims, "exp": good_claims["iat"] - 1})
    unknown_kid = SigningKey.from_pem("key-9", new_signing_key()).encode(good_claims)
    alg_none = "eyJhbGciOiJub25lIiwia2lkIjoia2V5LTEifQ." + tokens["access_token"].split(".")[1] + "."
    for bad, why in ((forged, "signature"), (foreign, "another UAA"), (expired, "expired"),
                     (unknown_kid, "unknown key"), (tokens["refresh_token"], "refresh"), (alg_none, "RS256")):
        with pytest.raises(TokenInvalid, match=why):
            verifier.verify(bad)


def test_made_up_key_ids_do_not_make_it_hammer_the_uaa(http, uaa):
    verifier = UaaTokenVerifier(uaa.url)
    before = uaa.log().count("GET /token_keys")
    verifier.verify(password_grant(http, "admin", ADMIN_PASSWORD).json()["access_token"])
    # the server logs a request after answering it: wait for the first fetch's line
    fetches = wait_until(lambda: (n := uaa.log().count("GET /token_keys")) > before and n,
                         message="the verifier's first /token_keys fetch in the UAA's log")
    for i in range(5):
        made_up = SigningKey.from_pem(f"made-up-{i}", new_signing_key()).encode({"exp": 2 ** 40})
        with pytest.raises(TokenInvalid, match="unknown key"):
            verifier.verify(made_up)
    assert uaa.log().count("GET /token_keys") == fetches  # within refetch_interval: no new fetch


def test_picks_up_a_rotated_key(tmp_path, crypto_package):
    port = free_port()
    first = start_uaa(tmp_path / "a", crypto_package, new_signing_key(), port)
    try:
        verifier = UaaTokenVerifier(first.url, refetch_interval=0)
        with first.client() as http:
            verifier.verify(password_grant(http, "admin", ADMIN_PASSWORD).json()["access_token"])
    finally:
        first.stop()
    second = start_uaa(tmp_path / "b", crypto_package, new_signing_key(), port, jwt={"policy": {"active_key_id": "key-2"}})
    try:
        with second.client() as http:
            token = password_grant(http, "admin", ADMIN_PASSWORD).json()["access_token"]
        assert jwt_parts(token)[0]["kid"] == "key-2"
        assert verifier.verify(token)["user_name"] == "admin"
    finally:
        second.stop()
