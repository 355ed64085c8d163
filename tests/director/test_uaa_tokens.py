"""The director accepts UAA tokens beside basic auth: a real UAA process (the uaa job run as
its VM runs it), a real director started with `bosh-py director start --uaa-url`, and the
real CLI (`bosh-py login`, BOSH_CLIENT / BOSH_CLIENT_SECRET). Bad tokens are made the way an
attacker would (tampered, another key, alg none) or, for claims the UAA would never put in,
signed with the UAA's own key (expired, wrong audience)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from bosh_py.director.uaa_auth import access_level
from tests.cf.uaa.uaa_support import (
    build_package,
    client_token,
    jwt_parts,
    new_signing_key,
    start_uaa,
)
from tests.harness import BIN, LocalDirector, free_port

ADMIN_SECRET = "ci-admin-secret-Kq3-not-in-logs"
READER_SECRET = "ci-reader-secret-Wm8-not-in-logs"
NOSCOPE_SECRET = "ci-noscope-secret-Pt5-not-in-logs"
CLIENTS = {
    "ci-admin": {"authorized-grant-types": "client_credentials", "authorities": "bosh.admin", "scope": "",
                 "secret": ADMIN_SECRET},
    "ci-reader": {"authorized-grant-types": "client_credentials", "authorities": "bosh.read", "scope": "",
                  "secret": READER_SECRET},
    "ci-noscope": {"authorized-grant-types": "client_credentials", "authorities": "bosh.other", "scope": "",
                   "secret": NOSCOPE_SECRET},
}
CLOUD_CONFIG = Path(__file__).resolve().parents[1] / "e2e" / "cloud-config.yml"


@pytest.fixture(scope="module")
def signing_key() -> str:
    return new_signing_key()


@pytest.fixture(scope="module")
def uaa(tmp_path_factory, signing_key):
    package = build_package(tmp_path_factory.mktemp("python3-cryptography-package"))
    process = start_uaa(tmp_path_factory.mktemp("uaa"), package, signing_key, clients=CLIENTS)
    yield process
    process.stop()
    print(process.log()[-3000:])


def start_director(root: Path, *flags: str) -> LocalDirector:
    """A real director (local CPI, no VMs made here) started by the CLI with ``flags``."""
    local = LocalDirector(root)
    root.mkdir(parents=True, exist_ok=True)
    local.cpi_config.write_text(json.dumps({"root": str(root / "cpi"), "bridge": local.net.bridge,
                                            "prefix": local.net.cpi_prefix}))
    local.env = {**os.environ, "BOSH_PY_CONFIG": str(root / "cli.json"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    for name in ("BOSH_CLIENT", "BOSH_CLIENT_SECRET", "BOSH_ENVIRONMENT", "BOSH_CA_CERT"):
        local.env.pop(name, None)
    local.cli("director", "start", "--data-dir", str(local.data_dir), "--api-port", str(free_port()),
              "--nats-port", str(free_port()), "--blobstore-port", str(free_port()),
              "--agent-endpoint-host", "127.0.0.1", "--cpi", str(BIN / "bosh-py-cpi-local"),
              "--cpi-config", str(local.cpi_config), *flags)
    return local


@pytest.fixture(scope="module")
def director(tmp_path_factory, uaa):
    local = start_director(tmp_path_factory.mktemp("uaa-director") / "d", "--uaa-url", uaa.url)
    yield local
    local.stop()


def director_url(local: LocalDirector) -> str:
    return json.loads((local.root / "cli.json").read_text())["url"]


def as_client(local: LocalDirector, client: str, secret: str) -> dict[str, str]:
    return {**local.env, "BOSH_CLIENT": client, "BOSH_CLIENT_SECRET": secret}


def cli(local: LocalDirector, env: dict, *args: str) -> subprocess.CompletedProcess:
    """The real CLI with ``env`` (a client's BOSH_CLIENT*, or another CLI config)."""
    return subprocess.run([str(BIN / "bosh-py"), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(pem: str, header: dict, claims: dict) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    return f"{signed}.{b64(signature)}"


def get_deployments(local: LocalDirector, token: str) -> httpx.Response:
    return httpx.get(f"{director_url(local)}/deployments", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_info_names_the_uaa(director, uaa):
    info = httpx.get(f"{director_url(director)}/info", timeout=10).json()
    assert info["user_authentication"] == {"type": "uaa", "options": {"url": uaa.url}}


def test_admin_client_reads_and_changes_through_the_cli(director, uaa):
    env = as_client(director, "ci-admin", ADMIN_SECRET)
    changed = cli(director, env, "update-cloud-config", str(CLOUD_CONFIG))
    assert changed.returncode == 0, changed.stderr
    shown = cli(director, env, "cloud-config")
    assert shown.returncode == 0 and "compilation" in shown.stdout
    assert ADMIN_SECRET not in changed.stdout + changed.stderr + shown.stdout + shown.stderr


def test_read_client_reads_but_cannot_change(director):
    env = as_client(director, "ci-reader", READER_SECRET)
    assert cli(director, env, "deployments").returncode == 0
    refused = cli(director, env, "update-cloud-config", str(CLOUD_CONFIG))
    assert refused.returncode == 1
    assert "403" in refused.stderr + refused.stdout and "bosh.read only" in refused.stderr + refused.stdout


def test_client_without_bosh_scope_is_forbidden(director, uaa):
    with uaa.client() as http:
        token = client_token(http, "ci-noscope", NOSCOPE_SECRET)
    response = get_deployments(director, token)
    assert response.status_code == 403 and "neither bosh.admin nor bosh.read" in response.json()["description"]


def test_wrong_client_secret_is_named_without_the_secret(director):
    wrong = "wrong-secret-Yy1"
    result = cli(director, as_client(director, "ci-admin", wrong), "deployments")
    assert result.returncode == 1 and "refused client 'ci-admin'" in result.stderr + result.stdout
    assert wrong not in result.stderr + result.stdout


def test_login_saves_the_token_not_the_secret_and_logout_forgets_it(director, tmp_path):
    env = {**director.env, "BOSH_PY_CONFIG": str(tmp_path / "cli.json")}
    login = cli(director, env, "login", "-e", director_url(director), "--client", "ci-admin",
                "--client-secret", ADMIN_SECRET)
    assert login.returncode == 0, login.stderr
    assert "Logged in to" in login.stdout and "ci-admin" in login.stdout
    saved = (tmp_path / "cli.json").read_text()
    assert ADMIN_SECRET not in saved and json.loads(saved)["uaa_login"]["client"] == "ci-admin"
    assert json.loads(saved)["uaa_login"]["access_token"] not in login.stdout + login.stderr
    assert (tmp_path / "cli.json").stat().st_mode & 0o077 == 0
    assert cli(director, env, "deployments").returncode == 0  # no password saved: the token did it
    assert cli(director, env, "logout").returncode == 0
    after = cli(director, env, "deployments")
    assert after.returncode == 1 and "401" in after.stderr + after.stdout


def test_login_with_a_read_client_then_a_change_is_refused(director, tmp_path):
    env = {**director.env, "BOSH_PY_CONFIG": str(tmp_path / "cli.json")}
    assert cli(director, env, "login", "-e", director_url(director), "--client", "ci-reader",
               "--client-secret", READER_SECRET).returncode == 0
    refused = cli(director, env, "update-cloud-config", str(CLOUD_CONFIG))
    assert refused.returncode == 1 and "bosh.read only" in refused.stderr + refused.stdout


def test_expired_saved_token_says_to_log_in_again(director, tmp_path):
    path = tmp_path / "cli.json"
    path.write_text(json.dumps({"url": director_url(director), "user": "", "password": "",
                                "uaa_login": {"client": "ci-admin", "access_token": "x.y.z",
                                              "expires_at": time.time() - 5}}))
    result = cli(director, {**director.env, "BOSH_PY_CONFIG": str(path)}, "deployments")
    assert result.returncode == 1 and "has expired" in result.stderr + result.stdout
    assert "bosh-py login" in result.stderr + result.stdout


@pytest.mark.parametrize("case, reason", [
    ("expired", "expired"),
    ("wrong_audience", "audience 'bosh' missing"),
    ("tampered", "signature is invalid"),
    ("other_key_same_kid", "signature is invalid"),
    ("unknown_kid", "unknown key"),
    ("alg_none", "not RS256"),
    ("alg_hs256", "not RS256"),
    ("other_issuer", "another UAA"),
    ("refresh_token", "refresh token"),
    ("garbage", "not a JWT"),
])
def test_bad_tokens_get_401_with_the_reason_and_never_reach_the_log(director, uaa, signing_key, case, reason):
    with uaa.client() as http:
        good = client_token(http, "ci-admin", ADMIN_SECRET)
    header, claims, _ = jwt_parts(good)
    now = int(time.time())
    if case == "expired":
        token = signed_token(signing_key, header, {**claims, "iat": now - 100, "exp": now - 10})
    elif case == "wrong_audience":
        token = signed_token(signing_key, header, {**claims, "aud": ["ci-admin", "cloud_controller"]})
    elif case == "tampered":
        head, _, sig = good.split(".")
        token = f"{head}.{b64(json.dumps({**claims, 'client_id': 'mallory'}).encode())}.{sig}"
    elif case == "other_key_same_kid":
        token = signed_token(new_signing_key(), header, claims)
    elif case == "unknown_kid":
        token = signed_token(new_signing_key(), {**header, "kid": "made-up"}, claims)
    elif case == "alg_none":
        token = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."
    elif case == "alg_hs256":
        token = f"{b64(json.dumps({**header, 'alg': 'HS256'}).encode())}.{good.split('.')[1]}.{good.split('.')[2]}"
    elif case == "other_issuer":
        token = signed_token(signing_key, header, {**claims, "iss": "http://127.0.0.2:1/oauth/token"})
    elif case == "refresh_token":
        token = signed_token(signing_key, header, {**claims, "jti": claims["jti"] + "-r"})
    else:
        token = "not-a-token"
    assert get_deployments(director, good).status_code == 200  # the same director takes the good one
    response = get_deployments(director, token)
    assert response.status_code == 401, response.text
    assert reason in response.json()["description"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    log = (director.data_dir / "director.log").read_text()
    assert token not in log and good not in log
    assert reason in log  # the refusal is logged, by its reason only


def test_a_director_without_uaa_refuses_bearer_tokens(tmp_path, uaa):
    local = start_director(tmp_path / "d")
    try:
        with uaa.client() as http:
            token = client_token(http, "ci-admin", ADMIN_SECRET)
        assert get_deployments(local, token).status_code == 401
        info = httpx.get(f"{director_url(local)}/info", timeout=10).json()
        assert info["user_authentication"]["type"] == "basic"
        result = cli(local, as_client(local, "ci-admin", ADMIN_SECRET), "deployments")
        assert result.returncode == 1 and "does not accept UAA tokens" in result.stderr + result.stdout
    finally:
        local.stop()


def test_basic_auth_still_works_beside_uaa(director):
    config = json.loads((director.root / "cli.json").read_text())
    response = httpx.get(f"{config['url']}/deployments", auth=(config["user"], config["password"]), timeout=10)
    assert response.status_code == 200
    wrong = httpx.get(f"{config['url']}/deployments", auth=(config["user"], "nope"), timeout=10)
    assert wrong.status_code == 401


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "ftp://127.0.0.1/", "uaa.example"])
def test_director_start_refuses_an_unsafe_uaa_url(tmp_path, url):
    local = LocalDirector(tmp_path / "d")
    local.env = {**os.environ, "BOSH_PY_CONFIG": str(tmp_path / "cli.json")}
    result = local.cli("director", "start", "--data-dir", str(local.data_dir), "--uaa-url", url, check=False)
    assert result.returncode == 1
    assert "--uaa-url" in result.stderr + result.stdout and "https://" in result.stderr + result.stdout
    assert not (local.data_dir / "director.pid").exists()


def test_a_rotated_uaa_key_is_fetched_when_a_token_names_its_kid(tmp_path):
    """The director caches key-1; the UAA restarts signing with key-2: the first key-2 token
    makes the director fetch /token_keys again and it is accepted; key-1 tokens no longer are."""
    package = build_package(tmp_path / "package")
    port = free_port()
    first = start_uaa(tmp_path / "uaa1", package, new_signing_key(), port=port, clients=CLIENTS)
    root = tmp_path / "d"
    (root / "director").mkdir(parents=True)
    (root / "director" / "director.json").write_text(json.dumps(
        {"data_dir": str(root / "director"), "uaa": {"url": first.url, "refetch_interval": 0}}))
    local = start_director(root)
    second = None
    try:
        with first.client() as http:
            old = client_token(http, "ci-admin", ADMIN_SECRET)
        assert get_deployments(local, old).status_code == 200
        first.stop()
        second = start_uaa(tmp_path / "uaa2", package, new_signing_key(), port=port, clients=CLIENTS,
                           jwt={"policy": {"active_key_id": "key-2"}})
        with second.client() as http:
            new = client_token(http, "ci-admin", ADMIN_SECRET)
        assert jwt_parts(new)[0]["kid"] == "key-2"
        assert get_deployments(local, new).status_code == 200
        refused = get_deployments(local, old)
        assert refused.status_code == 401 and "unknown key" in refused.json()["description"]
    finally:
        local.stop()
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.parametrize("scopes, level", [
    (["bosh.admin"], "admin"),
    (["bosh.d-uuid.admin"], "admin"),
    (["bosh.read", "bosh.admin"], "admin"),
    (["bosh.read"], "read"),
    (["bosh.d-uuid.read"], "read"),
    (["bosh.other-uuid.admin"], None),
    (["bosh.teams.x.admin", "cloud_controller.admin", "uaa.admin"], None),
    ([], None),
])
def test_access_level_follows_bosh_scope_names(scopes, level):
    assert access_level(scopes, "d-uuid") == level


@pytest.mark.parametrize("path", ["/deployments/cf/variables/cf_admin_password", "/resources/some-blob",
                                  "/errand_logs/some-blob", "/releases/exports/some-blob"])
def test_read_client_gets_no_credential_and_no_download(director, uaa, path):
    with uaa.client() as http:
        reader, admin = client_token(http, "ci-reader", READER_SECRET), client_token(http, "ci-admin", ADMIN_SECRET)
    url = f"{director_url(director)}{path}"
    refused = httpx.get(url, headers={"Authorization": f"Bearer {reader}"}, timeout=10)
    assert refused.status_code == 403 and "no credentials or downloads" in refused.json()["description"]
    allowed = httpx.get(url, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert allowed.status_code == 404  # past auth: the thing just does not exist here
