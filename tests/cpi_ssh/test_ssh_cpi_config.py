"""The ssh CPI's config: every mistake is refused before anything is touched, naming the key
at fault, and private keys never appear in a response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bosh_py.ssh.keys import generate_keypair
from tests.cpi_ssh.machines import SSH_CPI, cpi_call

OPERATOR = generate_keypair("operator")
HOST = generate_keypair("host")


def machine(**changes: object) -> dict:
    entry = {"name": "m1", "address": "10.246.0.5", "private_key": OPERATOR.private_key, "host_key": HOST.public_key}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.mark.parametrize(("doc", "message"), [
    ({"machines": [machine()]}, "state_dir: expected a non-empty string"),
    ({"state_dir": "S", "machines": []}, "machines: expected a non-empty list"),
    ({"state_dir": "S", "machines": [machine(address="db.example")]}, "machines/0/address: 'db.example' is not an IP"),
    ({"state_dir": "S", "machines": [machine(port=0)]}, "machines/0/port: expected a port number"),
    ({"state_dir": "S", "machines": [machine(private_key=None)]},
     "machines/0/: give exactly one of private_key and private_key_path"),
    ({"state_dir": "S", "machines": [machine(private_key_path="/nonexistent/key", private_key=None)]},
     "machines/0/private_key_path: cannot read /nonexistent/key"),
    ({"state_dir": "S", "machines": [machine(private_key="garbage")]},
     "machines/0/private_key: not an unencrypted ed25519, ECDSA or RSA private key"),
    ({"state_dir": "S", "machines": [machine(host_key="ssh-ed25519 !!!")]},
     "machines/0/host_key: not a valid ssh-ed25519 public key"),
    ({"state_dir": "S", "machines": [machine(host_key=None)]}, "machines/0/host_key: expected a non-empty string"),
    ({"state_dir": "S", "machines": [machine(), machine(address="10.246.0.6")]},
     "machines/1/name: 'm1' is listed twice"),
    ({"state_dir": "S", "machines": [machine(), machine(name="m2")]},
     "machines/1/address: '10.246.0.5' is listed twice"),
    ({"state_dir": "S", "disk_root": "/var/vcap/store/disks", "machines": [machine()]},
     "disk_root: expected an absolute path outside /var/vcap"),
    ({"state_dir": "S", "machines": [machine(passwd="x")]}, "machines/0/passwd: unknown key"),
])
def test_bad_config_is_refused_naming_the_key(tmp_path: Path, doc: dict, message: str) -> None:
    if doc.get("state_dir") == "S":
        doc["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "cpi.json"
    path.write_text(json.dumps(doc))
    response = cpi_call(SSH_CPI, path, "info")
    assert response["error"]["type"] == "InvalidCall"
    assert message in response["error"]["message"]
    assert OPERATOR.private_key.splitlines()[1] not in json.dumps(response)
    assert not (tmp_path / "state").exists()


def test_a_key_file_works_like_an_inline_key(tmp_path: Path) -> None:
    key_file = tmp_path / "id"
    key_file.write_text(OPERATOR.private_key)
    path = tmp_path / "cpi.json"
    path.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "stemcell_formats": ["debian-machines"],
                                "machines": [machine(private_key=None, private_key_path=str(key_file))]}))
    assert cpi_call(SSH_CPI, path, "info")["result"] == {"stemcell_formats": ["debian-machines"], "api_version": 2}
