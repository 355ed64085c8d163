"""The harness itself, driven through the libcloud CPI executable as the director drives it:
an instance is a real VM with its private IP, the host key and authorized keys from its
user data; a volume attached as /dev/sdf shows in the guest the way the instance type shows
it (NVMe by volume id on Nitro, /dev/xvdf on Xen), where the agent's hint lookup looks
(tests/agent/test_disk_hints.py; end to end in tests/e2e/test_libcloud_ec2.py);
terminate/reboot act on the VM; no secret reaches the emulator's log; nothing is left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bosh_py.ssh.client import PinnedSshClient, SshError
from bosh_py.ssh.keys import generate_keypair
from tests.cpi_libcloud.support import Cpi
from tests.harness import TEST_SUBNET
from tests.iaas.ec2_vms.harness import Ec2Vms, ec2_with_vms

pytestmark = [pytest.mark.vm, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="namespace VMs need root")]


@pytest.fixture(scope="module")
def ec2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ec2Vms]:
    with ec2_with_vms(tmp_path_factory.mktemp("ec2-vms")) as harness:
        yield harness


@pytest.fixture
def cpi(ec2: Ec2Vms, tmp_path: Path) -> Cpi:
    path = tmp_path / "cpi.json"
    path.write_text(json.dumps(ec2.cpi_config()))
    path.chmod(0o600)
    return Cpi(path)


def network(ip: str) -> dict:
    return {"default": {"type": "manual", "ip": ip, "netmask": "255.255.255.0",
                        "gateway": f"{TEST_SUBNET}.1", "default": ["dns", "gateway"], "cloud_properties": {}}}


def ssh(ip: str, client_key: str, host_public_key: str) -> PinnedSshClient:
    return PinnedSshClient(ip, client_key, host_public_key).connect(timeout=20)


@pytest.mark.parametrize("instance_type, guest_path", [("t3.micro", "/dev/nvme1n1"), ("t2.micro", "/dev/xvdf")])
def test_instance_is_a_vm_and_a_volume_shows_as_the_guest_would_see_it(
        ec2: Ec2Vms, cpi: Cpi, instance_type: str, guest_path: str) -> None:
    director_key, host_key, other = generate_keypair("d"), generate_keypair("h"), generate_keypair("x")
    env = {"bosh": {"authorized_keys": [director_key.public_key], "host_key": host_key.as_env()}}
    ip = f"{TEST_SUBNET}.{20 if instance_type.startswith('t3') else 21}"
    props = {"instance_type": instance_type, "availability_zone": ec2.zone, "subnet_id": ec2.subnet_id}
    vm_cid, assigned = cpi.result("create_vm", "agent-h", ec2.ami, props, network(ip), [], env)
    assert assigned["default"]["ip"] == ip
    backed = ec2.state()["instances"][vm_cid]
    assert backed["ip"] == ip and backed["agent_id"] == "agent-h"

    with pytest.raises(SshError, match="does not match the pinned key"):
        ssh(ip, director_key.private_key, other.public_key)  # the VM presents exactly its user data's key
    with ssh(ip, director_key.private_key, host_key.public_key) as conn:
        assert conn.run("hostname -I").stdout.split() == [ip]

        disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
        hint = cpi.result("attach_disk", vm_cid, disk_cid)
        assert hint == {"path": "/dev/sdf", "volume_id": disk_cid}
        assert conn.run(f"test -d {guest_path} && echo yes").stdout.strip() == "yes"
        assert conn.run("test -e /dev/sdf || echo absent").stdout.strip() == "absent"
        by_id = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{disk_cid.replace('-', '')}"
        found = conn.run(f"readlink -f {guest_path}").stdout.strip()
        assert found == f"/var/vcap/bosh/disks/{backed_disk(ec2, disk_cid)}"
        if guest_path.startswith("/dev/nvme"):  # udev's by-id link names the volume
            assert conn.run(f"readlink -f {by_id}").stdout.strip() == found
        conn.run(f"echo kept > {found}/file")
        cpi.result("reboot_vm", vm_cid)  # RebootInstances: a fresh /dev, the volume still plugged
    with ssh(ip, director_key.private_key, host_key.public_key) as conn:
        assert conn.run(f"cat {guest_path}/file").stdout.strip() == "kept"
        cpi.result("detach_disk", vm_cid, disk_cid)
        assert conn.run(f"test -e {guest_path} || echo gone").stdout.strip() == "gone"
    assert cpi.result("attach_disk", vm_cid, disk_cid)["path"] == "/dev/sdf"
    cpi.result("delete_vm", vm_cid)  # TerminateInstances: the VM goes, the volume stays
    assert vm_cid not in ec2.state()["instances"] and vm_cid not in ec2.live_instances()
    assert not ec2.local.call("has_vm", backed["vm_cid"])
    cpi.result("delete_disk", disk_cid)
    assert disk_cid not in ec2.state()["volumes"]
    assert ec2.state()["failures"] == []
    log = ec2.log.read_text()
    assert "RunInstances" in log  # requests are logged …
    key_body = "".join(host_key.private_key.splitlines()[1:-1])
    assert "UserData" not in log and key_body[:40] not in log  # … their parameters are not


def backed_disk(ec2: Ec2Vms, volume_id: str) -> str:
    return str(ec2.state()["volumes"][volume_id])


def test_an_instance_that_cannot_boot_is_terminated_and_says_why(ec2: Ec2Vms, cpi: Cpi) -> None:
    env = {"bosh": {"host_key": {"private_key": "not a key", "public_key": "ssh-ed25519 AAAA"}}}
    props = {"instance_type": "t3.micro", "availability_zone": ec2.zone, "subnet_id": ec2.subnet_id}
    error = cpi.error("create_vm", "agent-bad", ec2.ami, props, network(f"{TEST_SUBNET}.22"), [], env)
    assert error["type"] == "VMCreationFailed" and "terminated" in error["message"]
    assert any("not an OpenSSH private key" in f for f in ec2.state()["failures"])
    assert ec2.live_instances() == []
