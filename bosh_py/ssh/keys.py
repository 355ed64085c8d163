"""SSH key pairs in OpenSSH format, generated with `cryptography`.

The director keeps one client key for reaching VMs and makes a fresh host key for each VM,
so it can pin that host key before the VM even boots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    private_key: str  # OpenSSH PEM
    public_key: str  # "ssh-ed25519 AAAA..."

    def as_env(self) -> dict[str, str]:
        return {"private_key": self.private_key, "public_key": self.public_key}


def generate_keypair(comment: str = "") -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return KeyPair(private, f"{public} {comment}".strip())


def load_or_create_keypair(path: Path, comment: str) -> KeyPair:
    """The director's own client key, created on first use and kept 0600."""
    public_path = path.with_suffix(".pub")
    if path.exists() and public_path.exists():
        return KeyPair(path.read_text(), public_path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    pair = generate_keypair(comment)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pair.private_key)
    public_path.write_text(pair.public_key + "\n")
    return pair
