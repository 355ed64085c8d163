"""The cloud controller on UAA tokens: a real UAA and a real CC process, tokens from the UAA's
own /oauth/token. The CC checks them with the UAA's public keys only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time

import httpx
import pytest

from tests.cf.cc.plumbing import cc_config, end_process, vm_python
from tests.cf.client.conftest import CfPy
from tests.cf.uaa.uaa_support import (
    ADMIN_CLIENT_SECRET,
    client_token,
    new_signing_key,
    start_uaa,
)

from .tenancy_support import ADMIN_PASSWORD, bearer, start_cc_with_uaa, token_of


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_info_names_the_uaa_and_the_cc_issues_no_token(cc, uaa):
    info = httpx.get(f"{cc.url}/v2/info").json()
    assert info["authorization_endpoint"] == uaa.url
    assert info["token_endpoint"] == uaa.url
    # the built-in issuer is off: its admin user and password no longer get a token
    r = httpx.post(f"{cc.url}/oauth/token", data={"grant_type": "password", "username": "admin",
                                                  "password": "admin-secret"})
    assert r.status_code == 404
    assert uaa.url in r.json()["error_description"]
    assert "access_token" not in r.text


def test_a_uaa_token_is_accepted_and_the_cc_secret_signs_nothing(cc, uaa):
    token = token_of(uaa.url, "admin", ADMIN_PASSWORD)
    r = httpx.get(f"{cc.url}/v2/apps", headers=bearer(token))
    assert r.status_code == 200, r.text
    # a token in the old shape, signed with the CC's own token_secret: refused with a UAA
    now = int(time.time())
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"user_name": "admin", "scope": ["cloud_controller.admin"], "exp": now + 600,
                            "aud": ["cloud_controller"]}).encode())
    sig = _b64(hmac.new(cc.config["token_secret"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    r = httpx.get(f"{cc.url}/v2/apps", headers=bearer(f"{head}.{body}.{sig}"))
    assert r.status_code == 401
    assert r.json()["error_code"] == "CF-InvalidAuthToken"


def test_tokens_of_another_uaa_and_tampered_tokens_are_refused(tmp_path, cc, uaa, crypto_package):
    other = start_uaa(tmp_path / "other-uaa", crypto_package, new_signing_key())
    try:
        foreign = token_of(other.url, "admin", ADMIN_PASSWORD)
    finally:
        other.stop()
    r = httpx.get(f"{cc.url}/v2/apps", headers=bearer(foreign))
    assert r.status_code == 401, r.text
    token = token_of(uaa.url, "admin", ADMIN_PASSWORD)
    head, claims, sig = token.split(".")
    raised = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    raised["scope"] = raised["scope"] + ["cloud_controller.admin"]
    raised["user_name"] = "someone-else"
    forged = f"{head}.{_b64(json.dumps(raised).encode())}.{sig}"
    assert httpx.get(f"{cc.url}/v2/apps", headers=bearer(forged)).status_code == 401


def test_audience_and_scope_are_checked(cc, uaa):
    # a token without any cloud_controller scope (aud lacks cloud_controller): not for the CC
    openid_only = token_of(uaa.url, "admin", ADMIN_PASSWORD, scope="openid")
    r = httpx.get(f"{cc.url}/v2/apps", headers=bearer(openid_only))
    assert r.status_code == 401
    assert "cloud controller" in r.json()["description"]
    with httpx.Client(base_url=uaa.url, timeout=10) as http:   # the admin client: scim and uaa, no CC
        client_only = client_token(http, "admin", ADMIN_CLIENT_SECRET)
    assert httpx.get(f"{cc.url}/v2/apps", headers=bearer(client_only)).status_code == 401
    # read only: may list, may not create
    read_only = token_of(uaa.url, "admin", ADMIN_PASSWORD, scope="cloud_controller.read")
    assert httpx.get(f"{cc.url}/v2/apps", headers=bearer(read_only)).status_code == 200
    r = httpx.post(f"{cc.url}/v2/apps", headers=bearer(read_only), json={"name": "nope"})
    assert r.status_code == 403
    assert r.json()["error_code"] == "CF-InsufficientScope"
    assert httpx.get(f"{cc.url}/v2/apps", headers=bearer(read_only)).json()["total_results"] == 0


def test_an_expired_token_is_refused_and_cf_py_refreshes_it(tmp_path, nats_server, dea, crypto_package):
    short = start_uaa(tmp_path / "uaa", crypto_package, new_signing_key(), jwt={"access_token_validity": 2})
    cc = start_cc_with_uaa(tmp_path / "cc", nats_server, short.url, crypto_package)
    try:
        home = tmp_path / "home"
        home.mkdir()
        cf = CfPy(home / "cf-py.json", home)
        cf.ok("api", cc.url)
        cf.ok("login", "-u", "admin", env={"CF_PY_PASSWORD": ADMIN_PASSWORD})
        saved = json.loads((home / "cf-py.json").read_text())
        assert saved["token_endpoint"] == short.url and saved["refresh_token"]
        time.sleep(3)
        r = httpx.get(f"{cc.url}/v2/apps", headers=bearer(saved["token"]))
        assert r.status_code == 401
        assert "expired" in r.json()["description"]
        assert "No orgs found" not in cf.ok("orgs")      # renewed with the refresh token, then listed
        renewed = json.loads((home / "cf-py.json").read_text())
        assert renewed["token"] != saved["token"]
        # a refresh token the UAA refuses: a clear error, exit 1, nothing secret printed
        saved["refresh_token"] = "not-a-refresh-token"
        saved["token"] = renewed["token"]
        (home / "cf-py.json").write_text(json.dumps(saved))
        time.sleep(3)
        failed = cf("orgs")
        assert failed.returncode == 1
        assert "cf-py login" in failed.stderr
        assert "not-a-refresh-token" not in failed.stderr + failed.stdout
    finally:
        end_process(cc.proc)
        short.stop()


@pytest.mark.parametrize("bad, message", [
    ({"url": "ftp://x"}, "'uaa.url'"),
    ({"url": "http://127.0.0.1:1", "refetch_interval": -1}, "'uaa.refetch_interval'"),
    ({"url": "http://127.0.0.1:1", "keys": []}, "'uaa.keys'"),
])
def test_a_bad_uaa_section_stops_the_cc_with_the_key_named(tmp_path, nats_server, crypto_package, bad, message):
    config = cc_config(tmp_path, nats_server, 1, uaa=bad)
    path = tmp_path / "cc.json"
    path.write_text(json.dumps(config))
    python, env = vm_python(tmp_path)
    env["PYTHONPATH"] += f":{crypto_package}/usr/lib/python3/dist-packages"
    result = subprocess.run([*python, "-m", "cf_platform.cloud_controller", "--config", str(path)],
                            check=False, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
