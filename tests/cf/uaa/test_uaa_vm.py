"""The uaa job alone on a real namespace VM, deployed by a real director from releases/uaa:
the director generates the RS256 key and the admin client's secret, the compiled
python3-cryptography package signs on the stemcell's python3, tokens come through the VM's
IP and verify against its /token_keys, and a user made through SCIM survives a recreate of
the VM (SQLite on the persistent disk)."""

from __future__ import annotations

import base64

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.harness import REPO, director_with_stemcell

from .uaa_support import basic, bearer, jwt_parts

pytestmark = [pytest.mark.slow, pytest.mark.vm]

ADMIN_PASSWORD = "vm-admin-pw-Lk3"

MANIFEST = {
    "name": "uaa",
    "releases": [{"name": "uaa", "version": "latest"}],
    "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
    "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": "1000-60000",
               "update_watch_time": "1000-60000"},
    "instance_groups": [{
        "name": "uaa", "azs": ["z1"], "instances": 1, "vm_type": "default", "stemcell": "default",
        "persistent_disk_type": "small", "networks": [{"name": "default"}],
        "jobs": [{"name": "uaa", "release": "uaa", "properties": {"uaa": {
            "jwt": {"signing_key": "((uaa_jwt_signing_key.private_key))"},
            "admin": {"client_secret": "((uaa_admin_client_secret))"},
            "scim": {"users": [{"name": "admin", "password": "((cf_admin_password))",
                                "groups": ["cloud_controller.admin", "openid", "scim.write"]}]}}}}]}],
    "variables": [{"name": "uaa_jwt_signing_key", "type": "rsa"},
                  {"name": "uaa_admin_client_secret", "type": "password"}],
}


def test_uaa_job_on_a_vm(tmp_path):
    manifest = tmp_path / "uaa.yml"
    manifest.write_text(yaml.safe_dump(MANIFEST))
    with director_with_stemcell(tmp_path / "director") as director:
        director.cli("upload-release", str(REPO / "releases" / "uaa"))
        director.cli("deploy", "-n", str(manifest), "-v", f"cf_admin_password={ADMIN_PASSWORD}")
        (row,) = director.json("instances", "-d", "uaa", "--ps")
        assert row["process_state"] == "running", row
        url = f"http://{row['ips'][0]}:8080"
        target = f"uaa/{row['id']}"
        processes = director.cli("ssh", "-d", "uaa", target, "-c", "ps -eo user=,args=").stdout.splitlines()
        assert [p.split()[0] for p in processes if "cf_platform.uaa" in p] == ["vcap"], processes
        owner = director.cli("ssh", "-d", "uaa", target, "-c", "stat -c %U /var/vcap/store/uaa/uaa.sqlite3").stdout
        assert owner.strip() == "vcap"
        with httpx.Client(base_url=url, timeout=20) as http:
            response = http.post("/oauth/token", headers=basic("cf", ""), data={
                "grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD})
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            header, claims, signature = jwt_parts(token)
            assert header["alg"] == "RS256" and claims["iss"] == f"{url}/oauth/token"
            jwk = http.get("/token_keys").json()["keys"][0]

            def number(field: str) -> int:
                return int.from_bytes(base64.urlsafe_b64decode(jwk[field] + "=" * (-len(jwk[field]) % 4)), "big")
            public = rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
            public.verify(signature, token.rsplit(".", 1)[0].encode(), padding.PKCS1v15(), hashes.SHA256())

            # the admin client's secret is the director's generated one, and nothing else works
            secret = director.cli("get-variable", "-d", "uaa", "uaa_admin_client_secret").stdout.strip()
            assert http.post("/oauth/token", headers=basic("admin", "guess"),
                             data={"grant_type": "client_credentials"}).status_code == 401
            admin = http.post("/oauth/token", headers=basic("admin", secret),
                              data={"grant_type": "client_credentials"}).json()["access_token"]
            created = http.post("/Users", headers=bearer(admin), json={"userName": "kept", "password": "kept-pw-1"})
            assert created.status_code == 201, created.text

        director.cli("recreate", "-d", "uaa", "-n")
        (row,) = director.json("instances", "-d", "uaa", "--ps")
        with httpx.Client(base_url=f"http://{row['ips'][0]}:8080", timeout=20) as http:
            again = http.post("/oauth/token", headers=basic("cf", ""), data={
                "grant_type": "password", "username": "kept", "password": "kept-pw-1"})
            assert again.status_code == 200, again.text
        director.cli("delete-deployment", "-d", "uaa", "-n")
