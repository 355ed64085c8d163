"""Driving the real ``bosh-py-cpi-local`` executable through stdin/stdout, as the director
does: the CPI's configuration, keys, and SSH into its VMs (fixtures: tests/cpi/fixtures.py)."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

BIN = Path(sys.executable).parent
CPI = BIN / "bosh-py-cpi-local"
STEMCELL_CACHE = Path("/var/cache/bosh-py/stemcell")
STEMCELL = STEMCELL_CACHE / "bosh-py-local-debian-bookworm-1.1.tar"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="local CPI VMs need root")


@dataclass(frozen=True)
class KeyPair:
    private: str
    public: str

    @classmethod
    def generate(cls, comment: str) -> "KeyPair":
        key = ed25519.Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        return cls(private, f"{public} {comment}")

    def paramiko_key(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key(io.StringIO(self.private))


@dataclass
class Cpi:
    """One CPI configuration; ``call`` runs the executable once per request, like the director."""

    config_path: Path
    root: Path
    prefix: str
    bridge: str
    subnet: str  # "10.254.N"

    def raw(self, text: str, config_path: Path | None = None) -> dict:
        done = subprocess.run([str(CPI), str(config_path or self.config_path)], input=text,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def call(self, method: str, *arguments: Any, config_path: Path | None = None) -> dict:
        request = {"method": method, "arguments": list(arguments),
                   "context": {"director_uuid": "test", "request_id": secrets.token_hex(4)},
                   "api_version": 2}
        return self.raw(json.dumps(request), config_path)

    def ok(self, method: str, *arguments: Any) -> Any:
        response = self.call(method, *arguments)
        assert response["error"] is None, response
        return response["result"]

    def command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CPI), *args, str(self.config_path)],
                              capture_output=True, text=True, timeout=120)

    def networks(self, host: int) -> dict:
        return {"default": {"type": "manual", "ip": f"{self.subnet}.{host}", "netmask": "255.255.255.0",
                            "gateway": f"{self.subnet}.1", "cloud_properties": {}}}

    def our_netns(self) -> list[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(f"{self.prefix}-")]

    def our_links(self) -> list[str]:
        out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if n.startswith(f"{self.prefix}h") or n == self.bridge]

    def our_mounts(self) -> list[str]:
        return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(str(self.root))]


@dataclass
class Vm:
    cid: str
    ip: str
    host_key: KeyPair


def ssh(vm: Vm, client_key: KeyPair, command: str, pinned: KeyPair | None = None) -> str:
    """Run ``command`` as root over SSH, accepting only the pinned host key."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kind, blob = (pinned or vm.host_key).public.split()[:2]
    client.get_host_keys().add(vm.ip, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
    client.connect(vm.ip, username="root", pkey=client_key.paramiko_key(), timeout=10,
                   allow_agent=False, look_for_keys=False)
    try:
        _stdin, stdout, stderr = client.exec_command(command, timeout=30)
        out = stdout.read().decode()
        status = stdout.channel.recv_exit_status()
        assert status == 0, f"{command!r} exited {status}: {stderr.read().decode()}"
        return out
    finally:
        client.close()


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
