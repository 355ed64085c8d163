"""Test support for the ssh CPI: "the operator's machines" are namespace VMs with plain sshd,
made by the local CPI executable outside any director (its own root, name prefix, bridge and
subnet for this test net), and the ssh CPI executable driven through stdin/stdout."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from bosh_py.ssh.keys import KeyPair, generate_keypair
from bosh_py.ssh.pinned_fabric import private_key, public_key

BIN = Path(sys.executable).parent
LOCAL_CPI = BIN / "bosh-py-cpi-local"
SSH_CPI = BIN / "bosh-py-cpi-ssh"


@dataclass(frozen=True)
class Machine:
    """One stand-in for an operator's machine, and what its operator knows about it."""

    name: str
    cid: str  # the local CPI's VM id (to delete it at the end)
    address: str
    host_key: KeyPair  # its sshd's key: what the operator pins in the ssh CPI config

    def config_entry(self, operator_key: KeyPair) -> dict:
        return {"name": self.name, "address": self.address, "user": "root",
                "private_key": operator_key.private_key, "host_key": self.host_key.public_key}


def cpi_call(executable: Path, config: Path, method: str, *arguments: Any) -> dict:
    request = {"method": method, "arguments": list(arguments),
               "context": {"director_uuid": "test", "request_id": secrets.token_hex(4)}, "api_version": 2}
    done = subprocess.run([str(executable), str(config)], input=json.dumps(request), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cpi_ok(executable: Path, config: Path, method: str, *arguments: Any) -> Any:
    response = cpi_call(executable, config, method, *arguments)
    assert response["error"] is None, response
    return response["result"]


@dataclass
class MachineMaker:
    """Makes machines through a local CPI config (with a stemcell in it); removes them all."""

    local_config: Path
    stemcell_cid: str
    subnet: str  # "10.245.17": the bridge's /24
    operator_key: KeyPair = field(default_factory=lambda: generate_keypair("operator"))
    made: list[Machine] = field(default_factory=list)

    def make(self, name: str, host: int) -> Machine:
        host_key = generate_keypair(f"host-{name}")
        networks = {"default": {"type": "manual", "ip": f"{self.subnet}.{host}", "netmask": "255.255.255.0",
                                "gateway": f"{self.subnet}.1", "cloud_properties": {}}}
        env = {"bosh": {"authorized_keys": [self.operator_key.public_key], "host_key": host_key.as_env()}}
        cid, _ = cpi_ok(LOCAL_CPI, self.local_config, "create_vm", f"machine-{name}", self.stemcell_cid, {},
                        networks, [], env)
        machine = Machine(name, cid, f"{self.subnet}.{host}", host_key)
        self.made.append(machine)
        return machine

    def remove_all(self) -> None:
        for machine in self.made:
            cpi_call(LOCAL_CPI, self.local_config, "delete_vm", machine.cid)
        self.made = []


# The local CPI's VMs come with this mount point of their own (for that CPI's disks), which
# their root cannot unmount: the machine's own, kept by the ssh CPI's delete_vm.
MACHINE_OWN = "/var/vcap/bosh/disks"
LEFT_IN_VCAP = "find /var/vcap -mindepth 1 | grep -vx -e /var/vcap/bosh -e /var/vcap/bosh/disks"


def unpack_stemcell_image(stemcell_tarball: Path, work: Path) -> Path:
    with tarfile.open(stemcell_tarball) as tar:
        tar.extract("image", work)
    return work / "image"


def operator_ssh(machine: Machine, key: KeyPair, command: str) -> tuple[int, str]:
    """What the operator sees on the machine: ``command`` run as root over SSH, pinned."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pinned = public_key(machine.host_key.public_key)
    client.get_host_keys().add(machine.address, pinned.get_name(), pinned)
    client.connect(machine.address, username="root", pkey=private_key(key.private_key), timeout=10,
                   allow_agent=False, look_for_keys=False)
    try:
        _stdin, stdout, _stderr = client.exec_command(command, timeout=60)
        out = stdout.read().decode()
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()
