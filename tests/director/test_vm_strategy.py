"""``update.vm_strategy: create-swap-delete`` through the real CLI, director and agents (on
the dummy CPI: VMs are agent processes, no root): the new VMs are made, on new addresses,
before any old one is stopped; each instance then moves to its new VM with its persistent
disk and data; the old VMs are deleted when the deploy ends. Static IPs fall back to
delete-create. A failure before the swap leaves every instance on its old VM; one during
the rollout deletes the VMs made for instances it never reached."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from bosh_py.director.ip_allocation import IpAllocator
from bosh_py.director.planner import GroupPlan, InstancePlan, readdress
from bosh_py.director.update_config import resolve_update
from tests.director.dummy_support import CLOUD_CONFIG, DummyDirector, dummy_director, manifest


@pytest.fixture(scope="module")
def dummy(tmp_path_factory):
    with dummy_director(tmp_path_factory.mktemp("vm-strategy")) as director:
        yield director


def swap_manifest(d: DummyDirector, env: dict | None = None, static_ips: list[str] | None = None,
                  instances: int = 3) -> str:
    doc = manifest(instances=instances, persistent_disk=64)
    doc["update"]["vm_strategy"] = "create-swap-delete"
    doc["update"]["max_in_flight"] = 1
    group = doc["instance_groups"][0]
    if env:
        group["env"] = env
    if static_ips:
        group["networks"] = [{"name": "default", "static_ips": static_ips}]
    path = d.root / "swap.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def instances(d: DummyDirector) -> dict[int, dict]:
    return {row["index"]: row for row in d.json("instances", "-d", "dummy")}


def events(d: DummyDirector) -> list[dict]:
    task = str(d.json("tasks", "-r", "1")[0]["id"])
    return [json.loads(line) for line in d.cli("task", task, "--event").stdout.splitlines()]


def store(d: DummyDirector, cid: str):
    return d.state_dir / "vms" / cid / "var/vcap/store"


def test_new_vms_come_first_on_new_ips_and_the_old_ones_go_at_the_end(dummy):
    dummy.cli("deploy", "-n", swap_manifest(dummy))
    before = instances(dummy)
    for index, row in before.items():
        (store(dummy, row["vm_cid"]) / "kept.txt").write_text(f"data of {index}\n")

    out = dummy.cli("deploy", "-n", swap_manifest(dummy, env={"rev": 2})).stdout
    after = instances(dummy)
    assert {i: r["vm_cid"] for i, r in after.items()}.keys() == before.keys()
    for index in before:
        assert after[index]["vm_cid"] != before[index]["vm_cid"]
        assert after[index]["ips"] != before[index]["ips"]  # the new VM runs beside the old: a new IP
        assert (store(dummy, after[index]["vm_cid"]) / "kept.txt").read_text() == f"data of {index}\n"
    assert set(dummy.vms()) == {r["vm_cid"] for r in after.values()}  # the old VMs are deleted
    assert dummy.json("orphaned-vms") == []
    assert "Deleting orphaned vms" in out

    stages = [(e["stage"], e["state"]) for e in events(dummy) if e.get("stage")]
    made = [i for i, (stage, state) in enumerate(stages) if stage == "Creating missing vms" and state == "finished"]
    updating = [i for i, (stage, _) in enumerate(stages) if stage == "Updating instance"]
    deleting = [i for i, (stage, _) in enumerate(stages) if stage == "Deleting orphaned vms"]
    assert len(made) == 3 and len(deleting) == 6  # three started, three finished
    assert max(made) < min(updating) and max(updating) < min(deleting)


def test_recreate_swaps_too_and_the_instances_run_on_the_new_vms(dummy):
    before = instances(dummy)
    dummy.cli("recreate", "-d", "dummy", "-n")
    after = instances(dummy)
    assert all(after[i]["vm_cid"] != before[i]["vm_cid"] and after[i]["ips"] != before[i]["ips"] for i in before)
    ps = dummy.json("instances", "-d", "dummy", "--ps")
    assert ps and all(row["process_state"] == "running" for row in ps)
    assert set(dummy.vms()) == {r["vm_cid"] for r in after.values()}


def test_a_failure_before_the_swap_leaves_every_instance_on_its_old_vm(dummy):
    before = instances(dummy)
    dummy.fail_next("create_vm", "VMCreationFailed", times=1)
    try:
        result = dummy.cli("deploy", "-n", swap_manifest(dummy, env={"rev": 3}), check=False)
    finally:
        (dummy.state_dir / "failures.json").write_text("{}")
    assert result.returncode == 1 and "VMCreationFailed" in result.stdout + result.stderr
    after = instances(dummy)
    assert {i: (r["vm_cid"], r["ips"]) for i, r in after.items()} == {
        i: (r["vm_cid"], r["ips"]) for i, r in before.items()}, (before, after)  # no instance was touched
    assert set(dummy.vms()) == {r["vm_cid"] for r in before.values()}  # the VMs made ahead are gone
    assert dummy.json("orphaned-vms") == []


def test_a_failure_in_the_rollout_deletes_the_vms_made_for_instances_not_reached(dummy):
    before = instances(dummy)
    dummy.fail_next("attach_disk", "CloudError", times=1)  # the canary's disk cannot follow it
    try:
        result = dummy.cli("deploy", "-n", swap_manifest(dummy, env={"rev": 4}), check=False)
    finally:
        (dummy.state_dir / "failures.json").write_text("{}")
    assert result.returncode == 1
    after = instances(dummy)
    assert after[0]["vm_cid"] != before[0]["vm_cid"]  # the canary was swapped, then failed
    assert {i: after[i]["vm_cid"] for i in (1, 2)} == {i: before[i]["vm_cid"] for i in (1, 2)}
    assert set(dummy.vms()) == {r["vm_cid"] for r in after.values()}  # no VM made ahead is left
    assert dummy.json("orphaned-vms") == []

    dummy.cli("deploy", "-n", swap_manifest(dummy, env={"rev": 4}))  # the next deploy finishes the job
    final = instances(dummy)
    for index in before:
        assert (store(dummy, final[index]["vm_cid"]) / "kept.txt").read_text() == f"data of {index}\n"


def test_an_old_vm_the_cpi_will_not_delete_keeps_its_ip_until_cck_deletes_it(dummy):
    dummy.fail_next("delete_vm", "CloudError", times=None)
    try:
        out = dummy.cli("deploy", "-n", swap_manifest(dummy, env={"rev": 5})).stdout
        assert "`bosh-py orphaned-vms` lists it" in out
        orphans = dummy.json("orphaned-vms")
        assert len(orphans) == 3 and all(o["cid"] in dummy.vms() for o in orphans)
        held = {o["ip"] for o in orphans}
        # the next deploy tries them first (delete_leftover_vms), still in vain, and goes on
        out = dummy.cli("deploy", "-n", swap_manifest(dummy, env={"rev": 5}, instances=5)).stdout  # 2 new
        assert "Deleting leftover vms" in out and "`bosh-py cck` deletes it" in out
        assert not held & {ip for row in instances(dummy).values() for ip in row["ips"]}
    finally:
        (dummy.state_dir / "failures.json").write_text("{}")
    dummy.cli("cck", "-d", "dummy", "--auto")
    assert dummy.json("orphaned-vms") == []
    assert set(dummy.vms()) == {r["vm_cid"] for r in instances(dummy).values()}


def test_static_ips_fall_back_to_delete_create_keeping_the_ip(dummy):
    dummy.cli("delete-deployment", "-d", "dummy", "-n")
    cloud = copy.deepcopy(CLOUD_CONFIG)
    cloud["networks"][0]["subnets"][0]["static"] = ["127.254.0.20 - 127.254.0.29"]
    (dummy.root / "cloud-static.yml").write_text(yaml.safe_dump(cloud))
    dummy.cli("update-cloud-config", str(dummy.root / "cloud-static.yml"))
    static = ["127.254.0.20", "127.254.0.21"]
    dummy.cli("deploy", "-n", swap_manifest(dummy, static_ips=static, instances=2))
    before = instances(dummy)
    out = dummy.cli("deploy", "-n", swap_manifest(dummy, static_ips=static, instances=2, env={"rev": 2})).stdout
    after = instances(dummy)
    assert all(after[i]["vm_cid"] != before[i]["vm_cid"] and after[i]["ips"] == before[i]["ips"] for i in before)
    assert "Deleting orphaned vms" not in out
    dummy.cli("delete-deployment", "-d", "dummy", "-n")
    assert dummy.vms() == {}


def _instance(ip: str, networks: dict) -> InstancePlan:
    return InstancePlan("web", 0, "uuid", "z1", True, networks, ip, 1, {}, "digest", stemcell_cid="sc")


def test_readdress_takes_a_spare_ip_and_keeps_the_old_one_claimed():
    cloud = {"networks": [{"name": "n", "subnets": [{"range": "10.9.0.0/29", "gateway": "10.9.0.1",
                                                      "azs": ["z1"]}]}]}
    group = GroupPlan("web", [], [], None, {}, 0, {}, resolve_update({}, None, 1), "service")  # type: ignore[arg-type]
    allocator = IpAllocator({"10.9.0.2"})
    instance = _instance("10.9.0.2", {"n": {"ip": "10.9.0.2", "default": ["dns", "gateway"]}})
    assert readdress(allocator, cloud, group, instance)
    assert instance.ip == "10.9.0.3" and instance.swap and "default" in instance.networks["n"]
    assert instance.vm_digest != "digest" and instance.vm_spec["networks"] == instance.networks
    assert {"10.9.0.2", "10.9.0.3"} <= allocator.used


def test_readdress_without_a_spare_ip_changes_nothing():
    cloud = {"networks": [{"name": "n", "subnets": [{"range": "10.9.0.0/30", "gateway": "10.9.0.1"}]}]}
    group = GroupPlan("web", [], [], None, {}, 0, {}, resolve_update({}, None, 1), "service")  # type: ignore[arg-type]
    allocator = IpAllocator({"10.9.0.2"})
    instance = _instance("10.9.0.2", {"n": {"ip": "10.9.0.2"}})
    assert not readdress(allocator, cloud, group, instance)
    assert instance.ip == "10.9.0.2" and not instance.swap and instance.vm_digest == "digest"
    assert allocator.used == {"10.9.0.2"}
