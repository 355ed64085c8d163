"""Failures the way they happen on EC2: a bad image or subnet, no capacity, throttling, an
error half-way through create_vm, resources already gone, wrong credentials; each answered
with the protocol's error type, nothing left behind (moto's own listing), no secret shown."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cpi_libcloud.support import CPI, Cpi, MotoEc2, World, write_config

NETWORK = {"default": {"type": "dynamic", "cloud_properties": {}, "default": ["dns", "gateway"]}}


def props(world: World, **extra: object) -> dict:
    return {"instance_type": "t3.micro", "availability_zone": world.zone,
            "subnet_id": world.subnet_id, **extra}


def test_bad_ami_leaves_nothing_and_says_why(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    volumes = sorted(moto.volume_ids())
    error = cpi.error("create_vm", "agent-1", "ami-00000000", props(world), NETWORK, [], {})
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is False
    assert "InvalidAMIID" in error["message"] and "ami-00000000" in error["message"]
    assert moto.live_instances() == [] and sorted(moto.volume_ids()) == volumes


def test_bad_subnet_leaves_nothing_and_says_why(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    volumes = sorted(moto.volume_ids())
    bad = props(world, subnet_id="subnet-00000000000000000")
    error = cpi.error("create_vm", "agent-1", world.ami, bad, NETWORK, [], {})
    assert error["type"] == "VMCreationFailed"
    assert "subnet-00000000000000000" in error["message"]
    assert moto.live_instances() == [] and sorted(moto.volume_ids()) == volumes


def test_no_capacity_is_retryable(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    moto.inject("RunInstances", "InsufficientInstanceCapacity")
    error = cpi.error("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is True
    assert "InsufficientInstanceCapacity" in error["message"]
    assert moto.live_instances() == []


def test_throttled_calls_are_retried_with_backoff(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    moto.inject("RunInstances", "RequestLimitExceeded", times=2)
    vm_cid, _ = cpi.result("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    assert moto.live_instances() == [vm_cid]
    assert cpi.calls[-1][1].count("throttled") == 2  # both retries are in the call's log


def test_failure_after_run_instances_terminates_the_instance(cpi: Cpi, moto: MotoEc2,
                                                             world: World) -> None:
    moto.inject("DescribeInstances", "InternalError")  # the wait for "running" fails
    error = cpi.error("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    assert error["type"] == "VMCreationFailed" and "InternalError" in error["message"]
    assert moto.live_instances() == []
    assert len(moto.driver().list_nodes()) == 1  # it was made, then terminated


def test_deleting_twice_says_not_found(cpi: Cpi, world: World) -> None:
    vm_cid, _ = cpi.result("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("delete_vm", vm_cid)
    cpi.result("delete_disk", disk_cid)
    assert cpi.error("delete_vm", vm_cid)["type"] == "VMNotFound"
    assert cpi.error("delete_disk", disk_cid)["type"] == "DiskNotFound"
    assert cpi.error("delete_vm", "i-00000000000000000")["type"] == "VMNotFound"
    assert cpi.error("reboot_vm", vm_cid)["type"] == "VMNotFound"
    assert cpi.error("attach_disk", vm_cid, disk_cid)["type"] == "VMNotFound"
    assert cpi.error("set_disk_metadata", disk_cid, {"a": "b"})["type"] == "DiskNotFound"
    assert cpi.result("has_vm", "i-00000000000000000") is False
    assert cpi.result("has_disk", "vol-00000000000000000") is False


def test_detaching_a_disk_that_is_not_attached_does_not_fail(cpi: Cpi, world: World) -> None:
    vm_cid, _ = cpi.result("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    response = cpi.call("detach_disk", vm_cid, disk_cid)
    assert response["error"] is None and "not attached" in response["log"]


def test_attached_disk_is_not_deleted(cpi: Cpi, world: World) -> None:
    vm_cid, _ = cpi.result("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("attach_disk", vm_cid, disk_cid)
    error = cpi.error("delete_disk", disk_cid)
    assert error["type"] == "CloudError" and vm_cid in error["message"]
    assert cpi.result("has_disk", disk_cid) is True


@pytest.mark.parametrize("field", ["secret_access_key", "access_key_id"])
def test_bad_credentials_are_a_clear_error_without_secrets(
        tmp_path: Path, moto: MotoEc2, world: World, field: str) -> None:
    wrong = "WRONG" + ("x" * 35 if field == "secret_access_key" else "AKIDZZZZZZZZZZZZ")
    cpi = Cpi(write_config(tmp_path / "bad.json", moto, world, **{field: wrong}))
    error = cpi.error("create_vm", "agent-1", world.ami, props(world), NETWORK, [], {})
    assert error["type"] == "VMCreationFailed" or error["type"] == "CloudError"
    assert "rejected the configured credentials" in error["message"]
    assert "AuthFailure" in error["message"]
    assert moto.live_instances() == []
    config = json.loads((tmp_path / "bad.json").read_text())["aws"]
    for _method, stdout, stderr in cpi.calls:
        for secret in (config["secret_access_key"], config["access_key_id"], moto.secret_key):
            assert secret not in stdout and secret not in stderr


def test_no_secret_in_any_output(cpi: Cpi, moto: MotoEc2, world: World) -> None:
    """Every call of a whole lifecycle, failures included: the key pair never shows."""
    vm_cid, _ = cpi.result("create_vm", "agent-1", world.ami, props(world), NETWORK, [],
                           {"bosh": {"password": "env-secret-password"}})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("attach_disk", vm_cid, disk_cid)
    cpi.error("delete_disk", disk_cid)
    cpi.error("create_vm", "agent-2", "ami-00000000", props(world), NETWORK, [], {})
    cpi.call("no_such_method")
    assert len(cpi.calls) == 6
    for _method, stdout, stderr in cpi.calls:
        for secret in (moto.secret_key, moto.access_key, "env-secret-password"):
            assert secret not in stdout and secret not in stderr


def test_unknown_providers_and_empty_sections_are_named(tmp_path: Path) -> None:
    for provider, kind in (("vsphere", "InvalidCall"),  # vsphere.host is required
                           ("gce", "InvalidCall")):
        path = tmp_path / f"{provider}.json"
        path.write_text(json.dumps({"provider": provider, provider: {}}))
        error = Cpi(path).error("has_vm", "vm-1")
        assert error["type"] == kind and provider in error["message"]


@pytest.mark.parametrize("missing", ["region", "access_key_id", "secret_access_key"])
def test_no_default_account_or_region(tmp_path: Path, moto: MotoEc2, missing: str) -> None:
    """Nothing falls back to a real AWS account or region: each one must be configured."""
    path = write_config(tmp_path / "cpi.json", moto, None)
    config = json.loads(path.read_text())
    del config["aws"][missing]
    path.write_text(json.dumps(config))
    error = Cpi(path).error("has_vm", "i-00000000000000000")
    assert error["type"] == "InvalidCall" and f"aws.{missing}" in error["message"]


def test_no_config_is_an_error(tmp_path: Path) -> None:
    done = subprocess.run([str(CPI)], input='{"method": "has_vm", "arguments": ["i-1"]}',
                          capture_output=True, text=True, timeout=60, check=True,
                          env={"PATH": "/usr/bin:/bin"})
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "InvalidCall" and "BOSH_PY_CPI_CONFIG" in error["message"]
