"""The EC2 user data is a #cloud-config document that cloud-init on a stock AMI acts on:
the director's host key becomes sshd's only host key, its key root's authorized key; the
agent settings ride along. Checked against the keys of cloud-init's cc_ssh module."""

from __future__ import annotations

import pytest
import yaml

from bosh_py.ssh.keys import generate_keypair
from cpi.libcloud.errors import InvalidCall
from cpi.libcloud.user_data import (
    agent_settings,
    cloud_config,
    cloud_config_from,
    encode,
)


def test_host_key_and_authorized_keys_in_cloud_init_terms() -> None:
    host, director = generate_keypair("host"), generate_keypair("director")
    env = {"bosh": {"host_key": host.as_env(), "authorized_keys": [director.public_key]}, "x": 1}
    settings = agent_settings("agent-1", {}, env, {"mbus": "nats://10.0.0.1:4222"})
    text = cloud_config(settings)
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert document["ssh_keys"] == {"ed25519_private": host.private_key, "ed25519_public": host.public_key}
    assert document["ssh_deletekeys"] is True and document["ssh_genkeytypes"] == ["ed25519"]
    assert document["ssh_authorized_keys"] == [director.public_key] and document["disable_root"] is False
    assert document["settings"] == settings
    assert yaml.safe_load(cloud_config_from(encode(settings))) == document


def test_no_keys_no_ssh_section() -> None:
    document = yaml.safe_load(cloud_config(agent_settings("agent-2", {}, {}, {})))
    assert set(document) == {"settings"}


@pytest.mark.parametrize("host_key", [{"private_key": "x", "public_key": "ssh-dss AAAA"},
                                      {"public_key": "ssh-ed25519 AAAA"}, "a string"])
def test_a_host_key_cloud_init_cannot_install_is_refused(host_key: object) -> None:
    with pytest.raises(InvalidCall, match="env.bosh.host_key"):
        cloud_config(agent_settings("agent-3", {}, {"bosh": {"host_key": host_key}}, {}))
