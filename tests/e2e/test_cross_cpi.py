"""One deployment across two clouds, end to end with real agents: a real director with a
cpi-config (deployments/cpi-config-hybrid.yml) naming `local` (the local CPI, the harness
bridge's free /26) and `aws-east` (bosh-py-cpi-libcloud on the EC2 harness of
tests/iaas/ec2_vms), a cloud-config (deployments/cloud-config-hybrid.yml) putting z1 on
local and z2 on aws-east, each stemcell landing in its own CPI, deployments/nats.yml spread
over z1 and z2 as one NATS cluster. An instance terminated in EC2 comes back through
aws-east only; delete-deployment removes each VM and disk through the CPI that made it.
Each cloud's own listing (the local CPI's `list`, the emulator's instances and volumes) is
the proof of which CPI made, and deleted, what."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cpi_configs import cleanup_cpi, cpi_listing, write_yaml
from tests.e2e.cross_cpi_support import (
    cloud_config_vars,
    cpi_config_ops,
    cpi_config_vars,
    local_cpi_properties,
    nats_across_ops,
    nats_round_trip,
    stemcell_identity,
    write_private_yaml,
)
from tests.harness import REPO, LocalDirector, wait_until
from tests.iaas.ec2_vms.harness import Ec2Vms, ec2_with_vms
from tests.iaas.ec2_vms.light_stemcell import write_light_stemcell

pytestmark = [pytest.mark.vm, pytest.mark.slow]

HEALTH_MONITOR = {"agent_timeout": 6, "analysis_interval": 1, "minimum_down_jobs": 2, "percent_threshold": 0.9}


@pytest.fixture(scope="module")
def ec2(tmp_path_factory: pytest.TempPathFactory, stemcell: Path) -> Iterator[Ec2Vms]:
    with ec2_with_vms(tmp_path_factory.mktemp("ec2-vms"), stemcell) as harness:
        yield harness


@pytest.fixture(scope="module")
def director(tmp_path_factory: pytest.TempPathFactory, ec2: Ec2Vms) -> Iterator[LocalDirector]:
    """A director started on the local CPI, as by default; the cpi-config the test uploads
    then puts every VM in `local` or `aws-east`. Torn down before the harness (which owns
    the bridge), and the `local` CPI's leftovers removed by that CPI itself."""
    root = tmp_path_factory.mktemp("cross-cpi")
    local = LocalDirector(root / "director")
    local_config = root / "cpi-local.json"  # the `local` CPI's config, for its own list/cleanup
    local_config.write_text(json.dumps(local_cpi_properties(root / "cpi-local")))
    try:
        local.start(health_monitor=HEALTH_MONITOR)
        local.local_cpi_config = local_config  # type: ignore[attr-defined]
        yield local
    finally:
        try:
            local.stop()
        finally:
            cleanup_cpi(local_config)


def vm_cids(listing: dict) -> set[str]:
    return {vm["cid"] for vm in listing["vms"]}


def task_debug_logs(director: LocalDirector) -> dict[int, str]:
    """Every recent task's debug log, by task id."""
    return {task["id"]: director.cli("task", str(task["id"]), "--debug").stdout
            for task in director.json("tasks", "--recent", "100")}


def test_one_deployment_across_local_and_ec2(director: LocalDirector, ec2: Ec2Vms, stemcell: Path,
                                             tmp_path: Path) -> None:
    started = time.monotonic()
    secret = ec2.moto.secret_key
    local_config: Path = director.local_cpi_config  # type: ignore[attr-defined]
    subprocess.run([str(REPO / "scripts/prepare-release-blobs")], check=True, capture_output=True)

    # the operator's files, filled in with -o and -l as a user would
    local_properties = json.loads(local_config.read_text())
    director.cli("update-cpi-config", str(REPO / "deployments/cpi-config-hybrid.yml"),
                 "-o", str(write_yaml(tmp_path / "cpis-here.yml", cpi_config_ops(local_properties))),
                 "-l", str(write_private_yaml(tmp_path / "aws-creds.yml", cpi_config_vars(ec2))))
    written = director.data_dir / "cpis"  # each CPI's properties, as its own config file
    assert json.loads((written / "local.json").read_text()) == local_properties
    assert json.loads((written / "aws-east.json").read_text())["aws"]["endpoint"] == ec2.endpoint
    assert [stat.S_IMODE(path.stat().st_mode) for path in (written, written / "aws-east.json")] == [0o700, 0o600]
    shown = director.cli("cpi-config").stdout
    assert "aws-east" in shown and secret not in shown and ec2.moto.access_key not in shown
    cpis = {row["name"]: row for row in director.json("cpis")}
    assert {name: (row["type"], row["stemcell_formats"]) for name, row in cpis.items()} == {
        "local": ("local", ["local-rootfs"]), "aws-east": ("libcloud", ["aws-light"])}
    director.cli("update-cloud-config", str(REPO / "deployments/cloud-config-hybrid.yml"),
                 "-l", str(write_yaml(tmp_path / "hybrid-vars.yml", cloud_config_vars(ec2))))

    director.cli("upload-release", str(REPO / "releases/nats"))
    deploy = ["deploy", "-n", str(REPO / "deployments/nats.yml"),
              "-o", str(write_yaml(tmp_path / "nats-z1-z2.yml", nats_across_ops()))]

    # each stemcell lands in the one CPI whose formats take it; same OS and version
    local_stemcell = stemcell_identity(stemcell)
    director.cli("upload-stemcell", str(stemcell))
    # no copy in aws-east yet: refused while planning, nothing made in either cloud
    refused = director.cli(*deploy, check=False)
    assert refused.returncode == 1
    assert "CPI 'aws-east' has no copy of stemcell" in " ".join((refused.stdout + refused.stderr).split())
    assert cpi_listing(local_config)["vms"] == [] and ec2.live_instances() == []
    assert "nats" not in [row["name"] for row in director.json("deployments")]
    light = write_light_stemcell(tmp_path / "light-stemcell.tgz", ec2.ami, version=local_stemcell["version"])
    director.cli("upload-stemcell", str(light))
    copies = {row["cpi"]: row for row in director.json("stemcells")}
    assert set(copies) == {"local", "aws-east"}
    assert copies["local"]["name"] == local_stemcell["name"] and copies["aws-east"]["cid"] == ec2.ami
    assert {(row["os"], row["version"]) for row in copies.values()} == {
        (local_stemcell["operating_system"], local_stemcell["version"])}
    assert cpi_listing(local_config)["stemcells"] == [copies["local"]["cid"]]

    deploy_started = time.monotonic()
    director.cli(*deploy)
    print(f"deploy of nats.yml across local and EC2: {time.monotonic() - deploy_started:.1f}s")
    rows = {row["az"]: row for row in director.json("instances", "-d", "nats", "--ps")}
    assert set(rows) == {"z1", "z2"} and {row["process_state"] for row in rows.values()} == {"running"}
    vms = {vm["az"]: vm for vm in director.json("vms", "-d", "nats")}
    assert {az: vm["cpi"] for az, vm in vms.items()} == {"z1": "local", "z2": "aws-east"}
    table = director.cli("vms", "-d", "nats").stdout
    for vm in vms.values():  # the table a user reads names each VM's CPI on its row
        assert any(vm["vm_cid"] in line and vm["cpi"] in line for line in table.splitlines()), table
    local_vm, ec2_vm = vms["z1"], vms["z2"]
    assert vm_cids(cpi_listing(local_config)) == {local_vm["vm_cid"]}     # compilation VM gone too
    assert ec2.live_instances() == [ec2_vm["vm_cid"]]
    assert set(ec2.state()["instances"]) == {ec2_vm["vm_cid"]}             # a real VM behind it
    # each persistent disk beside its VM, in its VM's cloud (EC2 also holds the ephemeral volume)
    assert cpi_listing(local_config)["disks"] == rows["z1"]["disk_cids"]
    [volume] = rows["z2"]["disk_cids"]
    assert volume.startswith("vol-") and volume in {v.id for v in ec2.moto.driver().list_volumes()}

    # one NATS cluster across both clouds: published on the local node, received on the EC2 one
    password = director.cli("get-variable", "-d", "nats", "nats_password").stdout.strip()
    local_ip, ec2_ip = rows["z1"]["ips"][0], rows["z2"]["ips"][0]
    assert nats_round_trip(local_ip, ec2_ip, password) == f"from {local_ip} to {ec2_ip}".encode()

    # terminated in EC2 behind the director's back: back through aws-east, local untouched
    driver = ec2.moto.driver()
    driver.destroy_node(next(node for node in driver.list_nodes() if node.id == ec2_vm["vm_cid"]))
    terminated = time.monotonic()

    def healed() -> dict | None:
        row = {r["az"]: r for r in director.json("instances", "-d", "nats", "--ps")}["z2"]
        return row if row["vm_cid"] not in (None, ec2_vm["vm_cid"]) and row["process_state"] == "running" else None

    after = wait_until(healed, 120, interval=1, message="the z2 instance back on a new EC2 instance")
    print(f"resurrection through aws-east: {time.monotonic() - terminated:.1f}s")
    assert any(event["action"] == "resurrect" for event in director.json("events", "-d", "nats"))
    assert ec2.live_instances() == [after["vm_cid"]] and after["ips"] == rows["z2"]["ips"]
    vms_after = {vm["az"]: vm for vm in director.json("vms", "-d", "nats")}
    assert vms_after["z2"]["cpi"] == "aws-east"
    assert (vms_after["z1"]["vm_cid"], vms_after["z1"]["agent_id"]) == (local_vm["vm_cid"], local_vm["agent_id"])
    assert vm_cids(cpi_listing(local_config)) == {local_vm["vm_cid"]}  # nothing new made locally
    assert nats_round_trip(local_ip, ec2_ip, password) == f"from {local_ip} to {ec2_ip}".encode()

    # each VM deleted by its own CPI; each disk, once orphaned, too
    director.cli("delete-deployment", "-d", "nats", "-n")
    assert vm_cids(cpi_listing(local_config)) == set()
    assert ec2.live_instances() == []
    orphans = director.json("disks", "--orphaned")
    assert sorted(disk["cpi"] for disk in orphans) == ["aws-east", "local"]
    for disk in orphans:
        director.cli("delete-disk", "-n", disk["disk_cid"])
    assert cpi_listing(local_config)["disks"] == []
    assert driver.list_volumes() == []
    assert ec2.state()["failures"] == []

    logs = task_debug_logs(director)
    made = [line for log in logs.values() for line in log.splitlines() if f"Created VM {after['vm_cid']} " in line]
    assert len(made) == 1 and made[0].endswith("through CPI 'aws-east'"), made  # the resurrector's
    assert not [task for task, log in logs.items() if secret in log], "the EC2 secret key is in a task log"
    print(f"cross-CPI test wall time (from the director being up): {time.monotonic() - started:.1f}s")
