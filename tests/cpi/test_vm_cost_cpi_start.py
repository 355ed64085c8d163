"""What a create_vm call costs before it does any work: no import it can do without.

``cryptography`` (about 0.05 CPU-seconds to import) is only needed when the director sends no
host key or one this module cannot read; ``ctypes.util.find_library`` runs ``ldconfig -p``."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from bosh_py.ssh.keys import generate_keypair
from cpi.local.errors import VMCreationFailed
from cpi.local.guest_files import host_key_from_env, openssh_public_key


def test_a_create_vm_call_imports_no_cryptography_and_runs_no_ldconfig():
    probe = ("import sys, cpi.local.main, cpi.local.methods.create_vm, cpi.local.keeper; "
             "print(sorted(m for m in sys.modules if m.startswith('cryptography') or m == 'ctypes.util'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_director_host_key_is_read_without_cryptography_and_agrees_with_it():
    for _ in range(20):
        pair = generate_keypair("host")
        assert openssh_public_key(pair.private_key) == " ".join(pair.public_key.split()[:2])
        key = host_key_from_env({"bosh": {"host_key": {"private_key": pair.private_key}}})
        assert key.public == " ".join(pair.public_key.split()[:2]) and key.kind == "ed25519"


def tampered(private_pem: str) -> str:
    """The key with one byte of its clear public half changed (the private half not)."""
    lines = private_pem.strip().splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    blob[80] ^= 1  # inside the public key blob that follows the header
    body = base64.b64encode(bytes(blob)).decode()
    return "\n".join([lines[0], *[body[i:i + 70] for i in range(0, len(body), 70)], lines[-1]]) + "\n"


def test_a_key_whose_halves_disagree_is_refused_naming_the_field():
    bad = tampered(generate_keypair("host").private_key)
    assert openssh_public_key(bad) is None
    with pytest.raises(VMCreationFailed, match="env.bosh.host_key.private_key"):
        host_key_from_env({"bosh": {"host_key": {"private_key": bad}}})


@pytest.mark.parametrize("bad", ["", "garbage", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"])
def test_anything_else_goes_the_old_way(bad):
    if bad == "":
        assert host_key_from_env({"bosh": {"host_key": {"private_key": bad}}}).kind == "ed25519"  # a fresh key
    else:
        assert openssh_public_key(bad) is None
        with pytest.raises(VMCreationFailed, match="not an OpenSSH private key"):
            host_key_from_env({"bosh": {"host_key": {"private_key": bad}}})
