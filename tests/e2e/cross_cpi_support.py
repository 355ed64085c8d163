"""Test support for one deployment across two clouds: the local CPI beside the EC2 harness
(tests/iaas/ec2_vms), through deployments/cpi-config-hybrid.yml and
deployments/cloud-config-hybrid.yml filled in the way an operator fills them (an ops file
and vars files), and a NATS round trip from one node to another."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import tarfile
from pathlib import Path

import nats
import yaml

from tests.harness import TEST_BRIDGE, TEST_GATEWAY, TEST_NET, TEST_SUBNET
from tests.iaas.ec2_vms.harness import Ec2Vms

# The harness leaves the bridge's last /26 free for an AZ on another CPI.
LOCAL_AZ_FIRST_HOST = f"{TEST_SUBNET}.192"
# Its own name prefix (netns, veth, cgroup), apart from the director's own CPI (bt…), the
# harness's (be…) and tests/cpi_configs.py's (c…a, c…b).
LOCAL_PREFIX = "xl" + chr(ord("a") + TEST_NET)


def write_private_yaml(path: Path, doc: object) -> Path:
    """A YAML file only its owner may read (it may hold credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(doc, out, sort_keys=False)
    return path


def stemcell_identity(stemcell: Path) -> dict:
    """name, version and operating_system from a stemcell tarball's stemcell.MF."""
    with tarfile.open(stemcell) as archive:
        member = archive.extractfile("stemcell.MF")
        assert member is not None, f"{stemcell} has no stemcell.MF"
        manifest = yaml.safe_load(member.read())
    return {key: str(manifest[key]) for key in ("name", "version", "operating_system")}


def local_cpi_properties(root: Path) -> dict:
    """The `local` CPI's config on this run's bridge (the director writes it from the
    cpi-config; the test keeps the same dict to list and clean up that CPI itself)."""
    return {"root": str(root), "bridge": TEST_BRIDGE, "prefix": LOCAL_PREFIX}


def cpi_config_ops(local_properties: dict) -> list[dict]:
    """Ops for deployments/cpi-config-hybrid.yml: the local CPI on the test bridge, EC2 at
    the emulator's endpoint (a private EC2-compatible endpoint, as the CPI allows)."""
    return [{"type": "replace", "path": "/cpis/name=local/properties", "value": local_properties},
            {"type": "replace", "path": "/cpis/name=aws-east/properties/aws/endpoint?",
             "value": "((aws_endpoint))"}]


def cpi_config_vars(ec2: Ec2Vms) -> dict:
    """What aws-creds.yml holds for deployments/cpi-config-hybrid.yml (credentials: 0600)."""
    aws = ec2.cpi_config()["aws"]
    return {"aws_access_key_id": aws["access_key_id"], "aws_secret_access_key": aws["secret_access_key"],
            "aws_security_group_id": ec2.security_group_id, "aws_endpoint": aws["endpoint"]}


def cloud_config_vars(ec2: Ec2Vms) -> dict:
    """hybrid-vars.yml for deployments/cloud-config-hybrid.yml: z1 is the bridge's free /26
    (the range is the whole link, as the local CPI's VMs have only its link route), z2 and
    z3 the harness's first two EC2 zones."""
    link = ipaddress.IPv4Network(f"{TEST_SUBNET}.0/24")
    doc: dict = {"local_cidr": str(link), "local_gateway": TEST_GATEWAY,
                 "local_reserved": f"{link[2]} - {ipaddress.IPv4Address(LOCAL_AZ_FIRST_HOST) - 1}"}
    for number, (zone, (subnet_id, cidr)) in enumerate(sorted(ec2.subnets.items())[:2], start=2):
        hosts = list(ipaddress.IPv4Network(cidr).hosts())
        doc.update({f"aws_zone_z{number}": zone, f"aws_subnet_z{number}": subnet_id, f"aws_cidr_z{number}": cidr,
                    f"aws_gw_z{number}": str(hosts[0]),
                    f"aws_reserved_z{number}": f"{hosts[0]} - {hosts[2]}"})  # AWS keeps .1-.3
    return doc


def nats_across_ops() -> list[dict]:
    """deployments/nats.yml on two nodes, one in z1 (local) and one in z2 (aws-east)."""
    return [{"type": "replace", "path": "/instance_groups/name=nats/azs", "value": ["z1", "z2"]},
            {"type": "replace", "path": "/instance_groups/name=nats/instances", "value": 2}]


def nats_round_trip(publish_ip: str, receive_ip: str, password: str, timeout: float = 20.0) -> bytes:
    """Publish on one node, receive on another: the message crosses the cluster's route."""
    return asyncio.run(_round_trip(publish_ip, receive_ip, password, timeout))


async def _round_trip(publish_ip: str, receive_ip: str, password: str, timeout: float) -> bytes:
    subject = f"bosh-py.cross-cpi.{publish_ip}"
    payload = f"from {publish_ip} to {receive_ip}".encode()
    receiver = await nats.connect(f"nats://{receive_ip}:4222", user="nats", password=password,
                                  connect_timeout=5, max_reconnect_attempts=0)
    publisher = await nats.connect(f"nats://{publish_ip}:4222", user="nats", password=password,
                                   connect_timeout=5, max_reconnect_attempts=0)
    try:
        subscription = await receiver.subscribe(subject)
        await receiver.flush()
        await receiver.flush()  # nats-py's flush can overtake a queued SUB
        deadline = asyncio.get_running_loop().time() + timeout
        while True:  # the route between the nodes (and the subscription's interest) may still be forming
            await publisher.publish(subject, payload)
            await publisher.flush()
            try:
                message = await subscription.next_msg(timeout=0.5)
                return bytes(message.data)
            except nats.errors.TimeoutError:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"a message published on {publish_ip} never reached {receive_ip}")
    finally:
        await publisher.close()
        await receiver.close()
