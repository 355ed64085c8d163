"""What every provider's user data must be for cloud-init on a stock image: a ``#cloud-config``
document whose SSH part validates against cloud-init's own schema for its cc_ssh module, that
installs the director's host key as the only host key and its keys for root, and that carries
the agent settings. Shared by the unit tests and the tests that read the user data back from an
emulator (moto, the OpenStack emulator, vcsim's extraConfig)."""

from __future__ import annotations

from typing import Any

import jsonschema
import yaml

# cc_ssh's part of cloud-init 22.4's schema-cloud-config-v1.json (Debian 12's cloud-init),
# transcribed: the keys cloud-init acts on to install host keys and root's authorized keys.
CC_SSH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ssh_keys": {
            "type": "object",
            "patternProperties": {"^(ecdsa|ed25519|rsa)_(public|private|certificate)$": {"type": "string"}},
            "additionalProperties": False,
        },
        "ssh_authorized_keys": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "ssh_deletekeys": {"type": "boolean"},
        "ssh_genkeytypes": {"type": "array", "items": {"type": "string", "enum": ["ecdsa", "ed25519", "rsa"]}},
        "disable_root": {"type": "boolean"},
    },
}


def parsed_cloud_config(text: str) -> dict[str, Any]:
    """The document, checked to be a #cloud-config that cloud-init's cc_ssh schema accepts."""
    assert text.startswith("#cloud-config\n"), text[:40]
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    jsonschema.validate(document, CC_SSH_SCHEMA)
    return document


def assert_installs_keys(document: dict[str, Any], host_public: str, host_private: str,
                         authorized: list[str]) -> None:
    """The host key becomes sshd's only one (the image's deleted, none generated beside it) and
    the authorized keys are root's."""
    kind = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}[host_public.split(" ", 1)[0]]
    assert document["ssh_keys"] == {f"{kind}_private": host_private, f"{kind}_public": host_public}
    assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == [kind]
    assert document["ssh_authorized_keys"] == authorized and document["disable_root"] is False
