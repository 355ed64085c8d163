"""The entry point: ``ec2_with_vms(workdir)`` starts the EC2 emulator whose instances are
real namespace VMs, makes what an operator makes first on EC2 (a VPC whose subnet is the
test bridge's, a key pair, a security group, an AMI standing for the local stemcell), and
yields what a libcloud CPI needs to use it. On exit everything is removed, even when the
test failed; instances the emulator still lists as running then fail the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cpi_libcloud.support import REGION, MotoEc2
from tests.harness import (
    REPO,
    STEMCELL,
    TEST_BRIDGE,
    TEST_NET,
    TEST_SUBNET,
    ensure_stemcell,
)
from tests.iaas.ec2_vms.local_cpi import LocalCpi

ZONE = f"{REGION}a"
# The VPC is the test bridge's /24; one /26 subnet per availability zone (as AWS has a
# subnet per AZ). The last /26 is left for AZs on another CPI (a local AZ beside EC2).
SUBNETS = {f"{REGION}a": f"{TEST_SUBNET}.0/26", f"{REGION}b": f"{TEST_SUBNET}.64/26",
           f"{REGION}c": f"{TEST_SUBNET}.128/26"}
# The harness's own local CPI: its own root and name prefix, on the test bridge.
LOCAL_PREFIX = "be" + ("" if TEST_NET == 0 else chr(ord("a") + TEST_NET))


@dataclass
class Ec2Vms:
    """A running harness: the emulator (``moto``: endpoint, credentials, a libcloud driver
    for operator actions) and the ids the CPI config and cloud-config name."""

    moto: MotoEc2
    local: LocalCpi
    subnets: dict[str, tuple[str, str]]  # availability zone -> (subnet id, CIDR)
    ami: str
    key_name: str
    security_group_id: str
    log: Path  # the emulator's log (request paths and EC2 actions; never parameters)
    agent: dict[str, Any] = field(default_factory=dict)

    @property
    def zone(self) -> str:
        return ZONE

    @property
    def subnet_id(self) -> str:
        """The first zone's subnet (``zone``)."""
        return self.subnets[ZONE][0]

    @property
    def endpoint(self) -> str:
        return self.moto.endpoint

    def cpi_config(self) -> dict[str, Any]:
        """The libcloud CPI's config for this emulator (holds its credentials: write it 0600)."""
        return {"provider": "aws",
                "aws": {"access_key_id": self.moto.access_key, "secret_access_key": self.moto.secret_key,
                        "region": REGION, "endpoint": self.endpoint, "default_key_name": self.key_name,
                        "default_security_groups": [self.security_group_id]},
                "agent": dict(self.agent)}

    def state(self) -> dict[str, Any]:
        """What backs what (``GET /ec2-vms/state``), and every boot failure."""
        with urllib.request.urlopen(f"{self.endpoint}/ec2-vms/state", timeout=10) as answer:
            return json.load(answer)  # type: ignore[no-any-return]

    def live_instances(self) -> list[str]:
        return self.moto.live_instances()


def _start_server(workdir: Path, local_config: Path) -> MotoEc2:
    import secrets

    access_key = "AKIA" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    env = dict(os.environ, MOTO_ADAPTER_ACCESS_KEY=access_key, MOTO_ADAPTER_SECRET_KEY=secret_key,
               MOTO_ENABLE_AMI_VALIDATION="1", MOTO_ENABLE_KEYPAIR_VALIDATION="1",
               EC2_VMS_LOCAL_CPI_CONFIG=str(local_config), EC2_VMS_SUBNET=f"{TEST_SUBNET}.0/24",
               PYTHONPATH=str(REPO))
    log = workdir / "ec2-vms.log"
    with log.open("wb") as errors:
        process = subprocess.Popen([sys.executable, "-m", "tests.iaas.ec2_vms.server"], env=env, cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=errors)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        process.wait()
        raise RuntimeError(f"ec2_vms server did not start: {log.read_text()[-2000:]}")
    return MotoEc2(process, int(line), access_key, secret_key)


def upload_local_stemcell(local: LocalCpi, workdir: Path, stemcell: Path = STEMCELL) -> str:
    """The local stemcell's rootfs image into the harness's local CPI, once."""
    image = workdir / "stemcell-image.tar"
    with tarfile.open(stemcell) as archive:
        member = archive.extractfile("image")
        assert member is not None, f"{stemcell} has no image"
        with image.open("wb") as out:
            while chunk := member.read(1 << 20):
                out.write(chunk)
    try:
        return str(local.call("create_stemcell", str(image), {}))
    finally:
        image.unlink(missing_ok=True)


def register_ami(moto: MotoEc2, name: str) -> str:
    """RegisterImage: the AMI a light stemcell names (EC2's own call, as an operator would)."""
    from libcloud.compute.drivers.ec2 import NAMESPACE
    from libcloud.utils.xml import findtext

    driver = moto.driver()
    answer = driver.connection.request(driver.path, params={
        "Action": "RegisterImage", "Name": name, "Architecture": "x86_64",
        "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm"}).object
    return str(findtext(answer, "imageId", NAMESPACE))


def _map_ami(moto: MotoEc2, ami: str, stemcell_cid: str) -> None:
    body = json.dumps({"ami": ami, "stemcell_cid": stemcell_cid}).encode()
    request = urllib.request.Request(f"{moto.endpoint}/ec2-vms/images", data=body, method="POST")
    urllib.request.urlopen(request, timeout=10).read()


@contextmanager
def ec2_with_vms(workdir: Path, stemcell: Path | None = None) -> Iterator[Ec2Vms]:
    """Start the harness in ``workdir`` (needs root); yield it; remove everything it made."""
    workdir.mkdir(parents=True, exist_ok=True)
    local_config = workdir / "cpi-local.json"
    local_config.write_text(json.dumps({"root": str(workdir / "cpi-local"), "bridge": TEST_BRIDGE,
                                        "prefix": LOCAL_PREFIX}))
    local = LocalCpi(local_config)
    moto: MotoEc2 | None = None
    leftovers: list[str] = []
    failed = True
    try:
        stemcell_cid = upload_local_stemcell(local, workdir, stemcell or ensure_stemcell())
        moto = _start_server(workdir, local_config)
        driver = moto.driver()
        vpc = driver.ex_create_network(f"{TEST_SUBNET}.0/24", name="bosh")
        subnets = {zone: (driver.ex_create_subnet(vpc.id, cidr, zone, name=f"bosh-{zone}").id, cidr)
                   for zone, cidr in SUBNETS.items()}
        driver.create_key_pair("bosh")
        group = driver.ex_create_security_group("bosh", "bosh VMs", vpc_id=vpc.id)
        ami = register_ami(moto, "bosh-py-local-debian-bookworm")
        _map_ami(moto, ami, stemcell_cid)
        yield Ec2Vms(moto, local, subnets, ami, "bosh", group["group_id"], workdir / "ec2-vms.log")
        failed = False
    finally:
        problems = _tear_down(moto, local, leftovers)
        if failed and problems:  # the test's own error propagates; say what was left too
            print(f"ec2_vms teardown after a failure left things behind: {problems}", file=sys.stderr)
    if not failed:
        assert not leftovers, f"instances the emulator still listed at the end: {leftovers}"
        assert not problems, f"ec2_vms teardown left things behind: {problems}"


def _tear_down(moto: MotoEc2 | None, local: LocalCpi, leftovers: list[str]) -> str:
    """Terminate what is left through EC2 (so each VM goes the way it came), stop the
    emulator, then let the local CPI remove anything still there."""
    try:
        if moto is not None and moto.process.poll() is None:
            driver = moto.driver()
            leftovers.extend(moto.live_instances())
            for node in driver.list_nodes():
                if node.id in leftovers:
                    driver.destroy_node(node)
            for volume in driver.list_volumes():
                if volume.extra.get("state") == "available":
                    driver.destroy_volume(volume)
    finally:
        if moto is not None:
            moto.stop()
        problems = local.cleanup()
    return problems
