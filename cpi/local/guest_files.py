"""Files the CPI writes into a new VM's own layer before its first boot.

They play the part cloud-init plays on a cloud VM: hostname, /etc/hosts, the sshd
configuration and host key the director chose (so it can pin the key before the VM
exists), and root's authorized_keys. Written into the overlay's upper directory while
nothing has it mounted, they persist across reboot_vm like any file the VM writes. They
belong to the VM's root (host uid ``id_base``), as sshd's StrictModes wants.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpi.local.errors import VMCreationFailed
from cpi.local.ids import IdRange

KEY_TYPES = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "ecdsa-sha2-nistp256": "ecdsa",
             "ecdsa-sha2-nistp384": "ecdsa", "ecdsa-sha2-nistp521": "ecdsa"}


@dataclass(frozen=True)
class HostKey:
    private: str
    public: str

    @property
    def kind(self) -> str:
        return KEY_TYPES.get(self.public.split()[0], "ed25519")


def host_key_from_env(env: dict[str, Any]) -> HostKey:
    """env.bosh.host_key as given by the director; a fresh ed25519 key if absent.

    The director's key (unencrypted OpenSSH format) is read here without ``cryptography``,
    whose import cost every create_vm call about 0.05 CPU-seconds: its public half is stored
    in clear in the file, and is checked against the copy in the private section. Anything
    else goes through ``cryptography``, which names what is wrong."""
    given = ((env or {}).get("bosh") or {}).get("host_key") or {}
    private = given.get("private_key")
    public = openssh_public_key(private) if isinstance(private, str) else None
    if public is None:
        private, public = _with_cryptography(private)
    return HostKey(private if private.endswith("\n") else private + "\n", public)


def _with_cryptography(private: Any) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if not private:
        key = ed25519.Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()).decode()
    try:
        loaded = serialization.load_ssh_private_key(str(private).encode(), password=None)
    except (ValueError, TypeError) as error:
        raise VMCreationFailed(f"env.bosh.host_key.private_key: not an OpenSSH private key ({error})") from error
    public = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                              serialization.PublicFormat.OpenSSH).decode()
    return str(private), public


_PEM_BEGIN, _PEM_END = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"


def openssh_public_key(private: str) -> str | None:
    """``"ssh-ed25519 AAAA..."`` of an unencrypted OpenSSH-format ed25519 private key whose
    public and private sections agree (PROTOCOL.key in OpenSSH); None for anything else."""
    text = private.strip()
    if not (text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END)):
        return None
    try:
        blob = base64.b64decode("".join(text[len(_PEM_BEGIN):-len(_PEM_END)].split()), validate=True)
        reader = _Reader(blob[len(_MAGIC):]) if blob.startswith(_MAGIC) else None
        if reader is None or (reader.string(), reader.string(), reader.string()) != (b"none", b"none", b"") \
                or reader.uint32() != 1:
            return None
        public_blob, secret = reader.string(), _Reader(reader.string())
        public = _Reader(public_blob)
        key_type, public_key = public.string(), public.string()
        if key_type != b"ssh-ed25519" or len(public_key) != 32 or public.rest():
            return None
        check1, check2 = secret.uint32(), secret.uint32()
        if check1 != check2 or secret.string() != key_type or secret.string() != public_key:
            return None
        pair = secret.string()  # seed and public key, 64 bytes
        if len(pair) != 64 or pair[32:] != public_key:
            return None
    except (ValueError, IndexError):
        return None
    return f"ssh-ed25519 {base64.b64encode(public_blob).decode()}"


_MAGIC = b"openssh-key-v1\0"


class _Reader:
    """SSH wire-format fields (RFC 4251: uint32, length-prefixed string) off a byte string."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def uint32(self) -> int:
        if self.at + 4 > len(self.data):
            raise ValueError("truncated")
        self.at += 4
        return struct.unpack(">I", self.data[self.at - 4:self.at])[0]

    def string(self) -> bytes:
        size = self.uint32()
        if self.at + size > len(self.data):
            raise ValueError("truncated")
        self.at += size
        return self.data[self.at - size:self.at]

    def rest(self) -> bytes:
        return self.data[self.at:]


def authorized_keys_from_env(env: dict[str, Any]) -> list[str]:
    keys = ((env or {}).get("bosh") or {}).get("authorized_keys") or []
    if isinstance(keys, str):
        keys = [keys]
    return [str(key).strip() for key in keys if str(key).strip()]


def sshd_config(ip: str, key: HostKey) -> str:
    return f"""# Written by the bosh-py local CPI.
Include /etc/ssh/sshd_config.d/*.conf
ListenAddress {ip}:22
HostKey /etc/ssh/ssh_host_{key.kind}_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PidFile /run/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PrintMotd no
X11Forwarding no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def write_guest_files(upper: Path, hostname: str, ip: str, key: HostKey,
                      authorized_keys: list[str], ids: IdRange) -> None:
    """Populate the VM's upper layer (owned by the VM's root; modes as StrictModes wants)."""
    def put(relative: str, text: str, mode: int = 0o644) -> None:
        path = upper / relative
        for parent in reversed(path.relative_to(upper).parents[:-1]):
            directory = upper / parent
            if not directory.exists():
                directory.mkdir(mode=0o700 if parent.parts[0] == "root" else 0o755)
                os.chmod(directory, 0o700 if parent.parts[0] == "root" else 0o755)
                ids.own(directory)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        ids.own(path)
        os.chmod(path, mode)

    put("etc/hostname", f"{hostname}\n")
    put("etc/hosts", f"127.0.0.1 localhost\n{ip} {hostname}\n")
    put("etc/ssh/sshd_config", sshd_config(ip, key))
    put(f"etc/ssh/ssh_host_{key.kind}_key", key.private, 0o600)
    put(f"etc/ssh/ssh_host_{key.kind}_key.pub", key.public + "\n")
    put("root/.ssh/authorized_keys", "".join(f"{k}\n" for k in authorized_keys), 0o600)
