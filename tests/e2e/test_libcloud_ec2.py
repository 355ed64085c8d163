"""End to end through the libcloud CPI on "EC2": a real director whose CPI is
bosh-py-cpi-libcloud, talking EC2 to the harness of tests/iaas/ec2_vms (moto's EC2 whose
instances are real namespace VMs), deploys deployments/nats.yml with
deployments/cloud-config-aws.yml; the cluster carries messages; the director pins exactly
the host key it passed through the CPI's user data; an instance terminated in EC2 (as an
operator would in the console) is resurrected; the persistent disk's data survives the
resurrection and `bosh-py recreate`."""

from __future__ import annotations

import ipaddress
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import paramiko
import pytest

from tests.harness import REPO, wait_until
from tests.iaas.ec2_vms.director import Ec2Director
from tests.iaas.ec2_vms.harness import Ec2Vms, ec2_with_vms
from tests.iaas.ec2_vms.light_stemcell import write_light_stemcell

pytestmark = pytest.mark.slow

HEALTH_MONITOR = {"agent_timeout": 6, "analysis_interval": 1, "minimum_down_jobs": 2, "percent_threshold": 0.9}
MARKER = "/var/vcap/store/e2e-marker"


@pytest.fixture(scope="module")
def ec2(tmp_path_factory: pytest.TempPathFactory, stemcell) -> Iterator[Ec2Vms]:
    with ec2_with_vms(tmp_path_factory.mktemp("ec2-vms"), stemcell) as harness:
        yield harness


@pytest.fixture(scope="module")
def director(tmp_path_factory: pytest.TempPathFactory, ec2: Ec2Vms) -> Iterator[Ec2Director]:
    local = Ec2Director(tmp_path_factory.mktemp("bosh-py-ec2"))
    try:
        local.start_with(ec2.cpi_config(), health_monitor=HEALTH_MONITOR)
        yield local
    finally:
        local.stop()


def monitor_events(director: Ec2Director) -> str:
    """The health monitor's events, each with its message (which agent, which evidence):
    what a failure needs to say why an instance was recreated."""
    return "\n".join(f"{e['time']} {e['action']} task={e.get('task_id')} {(e.get('context') or {}).get('message', '')}"
                     for e in director.json("events", "-d", "nats"))


def cloud_config_vars(ec2: Ec2Vms) -> list[str]:
    """-v flags for deployments/cloud-config-aws.yml: the harness's zones and subnets."""
    flags = []
    for number, (zone, (subnet_id, cidr)) in enumerate(sorted(ec2.subnets.items()), start=1):
        hosts = list(ipaddress.IPv4Network(cidr).hosts())
        for name, value in ((f"z{number}", zone), (f"subnet_z{number}", subnet_id), (f"cidr_z{number}", cidr),
                            (f"gw_z{number}", str(hosts[0])),
                            (f"reserved_z{number}", f"{hosts[0]} - {hosts[2]}")):  # AWS keeps .1-.3
            flags += ["-v", f"{name}={value}"]
    return flags


def recorded_host_keys(director: Ec2Director) -> dict[str, str]:
    """ip -> the host key the director recorded for that instance's VM (its own database)."""
    with sqlite3.connect(f"file:{director.data_dir / 'director.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT ip, host_public_key FROM instances WHERE vm_cid IS NOT NULL").fetchall()
    return {ip: " ".join(key.split()[:2]) for ip, key in rows}


def presented_host_key(ip: str) -> str:
    """The host key the VM's sshd presents (the key exchange only, no login)."""
    with socket.create_connection((ip, 22), timeout=10) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=10)
            key = transport.get_remote_server_key()
            return f"{key.get_name()} {key.get_base64()}"
        finally:
            transport.close()


def on_instance(director: Ec2Director, instance: str, command: str) -> str:
    """`bosh-py ssh -c`: a one-time key, and the system ssh client pinned to the recorded host key."""
    return director.cli("ssh", "-d", "nats", instance, "-c", command, timeout=60).stdout


def test_nats_on_ec2_through_the_libcloud_cpi(director: Ec2Director, ec2: Ec2Vms) -> None:
    subprocess.run([str(REPO / "scripts/prepare-release-blobs")], check=True, capture_output=True)
    director.cli("upload-stemcell", str(write_light_stemcell(director.root / "light-stemcell.tgz", ec2.ami)))
    director.cli("update-cloud-config", str(REPO / "deployments/cloud-config-aws.yml"), *cloud_config_vars(ec2))
    director.cli("upload-release", str(REPO / "releases/nats"))

    started = time.monotonic()
    director.cli("deploy", "-n", str(REPO / "deployments/nats.yml"))
    print(f"deploy of deployments/nats.yml through the EC2 harness: {time.monotonic() - started:.1f}s")
    rows = director.json("instances", "-d", "nats", "--ps")
    assert len(rows) == 3 and {r["process_state"] for r in rows} == {"running"}
    assert {r["az"] for r in rows} == {"z1", "z2", "z3"}
    assert sorted(r["vm_cid"] for r in rows) == sorted(ec2.live_instances())  # EC2 instance ids
    assert set(ec2.state()["instances"]) == set(ec2.live_instances())        # each one a real VM
    check = subprocess.run([sys.executable, str(REPO / "scripts/check-nats-cluster"), "nats"], env=director.env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0 and "NATS cluster OK" in check.stdout, check.stdout + check.stderr

    # Host keys: the one each VM presents is exactly the one the director recorded when it
    # made the key and passed it through the CPI's user data; never learned from the VM.
    recorded = recorded_host_keys(director)
    assert set(recorded) == {r["ips"][0] for r in rows}
    for ip, key in recorded.items():
        assert presented_host_key(ip) == key

    # IMDSv2 only, hop limit 1: the user data (settings, host key) is not one GET away
    from libcloud.compute.drivers.ec2 import NAMESPACE
    from libcloud.utils.xml import findtext
    driver = ec2.moto.driver()
    answer = driver.connection.request(driver.path, params={"Action": "DescribeInstances"}).object
    assert findtext(answer, "reservationSet/item/instancesSet/item/metadataOptions/httpTokens",
                    NAMESPACE) == "required"

    # The persistent disk is the EBS volume, found on the (Nitro) VM by its volume id.
    victim = next(r for r in rows if r["index"] == 1)
    assert on_instance(director, "nats/1", f"echo {victim['id']} > {MARKER} && cat {MARKER}").strip() == victim["id"]
    volume = victim["disk_cids"][0]
    assert volume.startswith("vol-") and volume in ec2.state()["volumes"]

    # Terminated in EC2 behind the director's back: the health monitor resurrects it.
    driver.destroy_node(next(n for n in driver.list_nodes() if n.id == victim["vm_cid"]))

    def healed() -> dict | None:
        row = {r["index"]: r for r in director.json("instances", "-d", "nats", "--ps")}[1]
        return row if row["vm_cid"] not in (None, victim["vm_cid"]) and row["process_state"] == "running" else None

    after = wait_until(healed, 120, interval=1, message="nats/1 back on a new EC2 instance")
    assert after["ips"] == victim["ips"] and after["disk_cids"] == [volume]
    assert any(e["action"] == "resurrect" for e in director.json("events", "-d", "nats"))
    assert on_instance(director, "nats/1", f"cat {MARKER}").strip() == victim["id"]
    assert presented_host_key(after["ips"][0]) == recorded_host_keys(director)[after["ips"][0]]

    # recreate: a new instance again, the same volume, the data still there
    director.cli("recreate", "-d", "nats", "nats/1", "-n")
    again = {r["index"]: r for r in director.json("instances", "-d", "nats", "--ps")}[1]
    assert again["vm_cid"] != after["vm_cid"] and again["disk_cids"] == [volume]
    assert on_instance(director, "nats/1", f"cat {MARKER}").strip() == victim["id"]

    deleted = director.cli("delete-deployment", "-d", "nats", "-n", check=False)
    assert deleted.returncode == 0, f"{deleted.stderr}\nthe health monitor's view:\n{monitor_events(director)}"
    assert ec2.live_instances() == []
    assert ec2.state()["failures"] == []
