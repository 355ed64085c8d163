"""The planner decides without touching anything: identity, IPs, AZs, what is obsolete,
and when a VM must be recreated."""

import pytest

from bosh_py.director.db import open_database
from bosh_py.director.models import Instance, Release, ReleaseVersion, Stemcell
from bosh_py.director.planner import PlanError, plan_deployment

CLOUD = {
    "azs": [{"name": "z1", "cloud_properties": {"zone": "a"}}, {"name": "z2"}],
    "vm_types": [{"name": "small", "cloud_properties": {"memory": 256}},
                 {"name": "big", "cloud_properties": {"memory": 1024}}],
    "disk_types": [{"name": "ssd", "disk_size": 2048}],
    "networks": [{"name": "default", "type": "manual", "subnets": [
        {"range": "10.0.0.0/24", "gateway": "10.0.0.1", "azs": ["z1", "z2"],
         "reserved": ["10.0.0.2 - 10.0.0.9"], "static": ["10.0.0.100 - 10.0.0.110"]}]}],
    "compilation": {"workers": 2, "az": "z1", "vm_type": "small", "network": "default"},
}


def manifest(instances=3, vm_type="small", static_ips=None, **group):
    network = {"name": "default", **({"static_ips": static_ips} if static_ips else {})}
    return {
        "name": "web", "releases": [{"name": "rel", "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 2, "canary_watch_time": 1000, "update_watch_time": 1000},
        "instance_groups": [{"name": "web", "azs": ["z1", "z2"], "instances": instances, "vm_type": vm_type,
                             "stemcell": "default", "networks": [network],
                             "jobs": [{"name": "web", "release": "rel", "properties": {"a": 1}}], **group}],
    }


@pytest.fixture
def session(tmp_path):
    sessions = open_database(f"sqlite:///{tmp_path / 'd.db'}")
    with sessions.begin() as s:
        release = Release(name="rel")
        s.add(release)
        s.flush()
        s.add(ReleaseVersion(release_id=release.id, version="0+dev.1",
                             manifest={"jobs": [{"name": "web", "fingerprint": "f"}], "packages": []}))
        s.add(Stemcell(name="st", version="1", operating_system="debian-bookworm", cid="sc-1"))
    with sessions() as s:
        yield s


def existing(plan):
    return [Instance(id=n + 1, deployment_id=1, group=i.group, index=i.index, uuid=i.uuid, az=i.az, ip=i.ip,
                     state="started") for n, i in enumerate(plan.groups[0].instances)]


def test_fresh_plan_spreads_azs_and_skips_reserved_ips(session):
    plan = plan_deployment(session, manifest(), CLOUD, [], set())
    instances = plan.groups[0].instances
    assert [i.az for i in instances] == ["z1", "z2", "z1"]
    assert [i.ip for i in instances] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert [i.bootstrap for i in instances] == [True, False, False]
    assert instances[0].cloud_properties == {"zone": "a", "memory": 256}
    assert plan.groups[0].update.canaries == 1 and plan.groups[0].update.max_in_flight == 2


def test_ips_used_elsewhere_are_skipped(session):
    plan = plan_deployment(session, manifest(instances=1), CLOUD, [], {"10.0.0.10"})
    assert plan.groups[0].instances[0].ip == "10.0.0.11"


def test_redeploy_keeps_identity_and_scale_down_marks_obsolete(session):
    first = plan_deployment(session, manifest(), CLOUD, [], set())
    rows = existing(first)
    again = plan_deployment(session, manifest(instances=2), CLOUD, rows, set())
    kept = again.groups[0].instances
    assert [(i.uuid, i.ip, i.az) for i in kept] == [(r.uuid, r.ip, r.az) for r in rows[:2]]
    assert again.obsolete_instance_ids == [3]
    assert all(i.existing_id is not None for i in kept)


def test_vm_type_change_changes_the_vm_digest_and_property_change_does_not(session):
    first = plan_deployment(session, manifest(), CLOUD, [], set())
    rows = existing(first)
    bigger = plan_deployment(session, manifest(vm_type="big"), CLOUD, rows, set())
    assert [i.vm_digest for i in bigger.groups[0].instances] != [i.vm_digest for i in first.groups[0].instances]
    changed = manifest()
    changed["instance_groups"][0]["jobs"][0]["properties"] = {"a": 2}
    same = plan_deployment(session, changed, CLOUD, rows, set())
    assert [i.vm_digest for i in same.groups[0].instances] == [i.vm_digest for i in first.groups[0].instances]


def test_static_ips_and_disk_type(session):
    plan = plan_deployment(session, manifest(instances=2, static_ips=["10.0.0.100", "10.0.0.101"],
                                             persistent_disk_type="ssd"), CLOUD, [], set())
    assert [i.ip for i in plan.groups[0].instances] == ["10.0.0.100", "10.0.0.101"]
    assert plan.groups[0].persistent_disk == 2048


def test_unknown_vm_type_and_missing_release_name_their_path(session):
    with pytest.raises(PlanError, match="instance_groups/web/vm_type: vm_type 'huge' is not in the cloud-config"):
        plan_deployment(session, manifest(vm_type="huge"), CLOUD, [], set())
    broken = manifest()
    broken["releases"] = [{"name": "other", "version": "latest"}]
    with pytest.raises(PlanError, match="release 'other' has not been uploaded"):
        plan_deployment(session, broken, CLOUD, [], set())


def test_static_ip_ranges_are_expanded(session):
    plan = plan_deployment(session, manifest(instances=3, static_ips=["10.0.0.100 - 10.0.0.102"]), CLOUD, [], set())
    assert [i.ip for i in plan.groups[0].instances] == ["10.0.0.100", "10.0.0.101", "10.0.0.102"]
