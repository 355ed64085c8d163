import pytest

from bosh_py.ssh.bootstrap import checked_public_key
from bosh_py.ssh.client import SshError
from bosh_py.ssh.keys import generate_keypair


def test_generated_keys_pass_the_check():
    pair = generate_keypair("bosh-py-ssh-session")
    key_type, blob = checked_public_key(pair.public_key)
    assert key_type == "ssh-ed25519" and pair.public_key.split()[1] == blob


@pytest.mark.parametrize("bad", [
    "ssh-ed25519 AAAA'; rm -rf / #",
    "ssh-ed25519 AAAA\nssh-ed25519 BBBB",
    "not-a-key AAAA",
    "ssh-ed25519 AAAA comment; reboot",
])
def test_anything_that_could_reach_a_shell_is_refused(bad):
    with pytest.raises(SshError, match="Not an OpenSSH public key"):
        checked_public_key(bad)
