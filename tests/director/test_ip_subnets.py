"""A network whose AZ is served by several subnets: validation counts them all, and the
planner must use them all (it used to take only the first one serving the AZ)."""

import pytest

from bosh_py.director.ip_allocation import IpAllocationError, IpAllocator, Subnet
from bosh_py.director.planner import plan_deployment
from bosh_py.manifest import check_against_cloud_config, parse_cloud_config, parse_deployment
from tests.director.test_planner import manifest, session  # noqa: F401 - the fixture

# Two subnets in z1: the first holds 2 dynamic IPs (.2 and .3 of a /29 after the gateway and reserved .4-.6).
TWO_SUBNETS = {
    "azs": [{"name": "z1"}],
    "vm_types": [{"name": "small", "cloud_properties": {}}],
    "networks": [{"name": "default", "type": "manual", "subnets": [
        {"range": "10.0.0.0/29", "gateway": "10.0.0.1", "azs": ["z1"], "reserved": ["10.0.0.4 - 10.0.0.6"]},
        {"range": "10.0.1.0/29", "gateway": "10.0.1.1", "azs": ["z1"], "static": ["10.0.1.5 - 10.0.1.6"]}]}],
    "compilation": {"workers": 1, "az": "z1", "vm_type": "small", "network": "default"},
}


def one_az(instances, static_ips=None):
    doc = manifest(instances=instances, static_ips=static_ips)
    doc["instance_groups"][0]["azs"] = ["z1"]
    return doc


def test_validation_and_planning_agree_on_a_second_subnet(session):  # noqa: F811
    doc = one_az(4)
    check_against_cloud_config(parse_deployment(doc), parse_cloud_config(TWO_SUBNETS))  # passes: 2 + 2 IPs
    plan = plan_deployment(session, doc, TWO_SUBNETS, [], set())
    assert [i.ip for i in plan.groups[0].instances] == ["10.0.0.2", "10.0.0.3", "10.0.1.2", "10.0.1.3"]
    third = plan.groups[0].instances[2]
    assert third.networks["default"]["gateway"] == "10.0.1.1"  # the settings of the subnet it is in


def test_static_ips_in_the_second_subnet_get_its_settings(session):  # noqa: F811
    plan = plan_deployment(session, one_az(2, ["10.0.1.5", "10.0.1.6"]), TWO_SUBNETS, [], set())
    assert [(i.ip, i.networks["default"]["gateway"]) for i in plan.groups[0].instances] == [
        ("10.0.1.5", "10.0.1.1"), ("10.0.1.6", "10.0.1.1")]


def test_a_redeploy_keeps_an_ip_in_the_second_subnet(session):  # noqa: F811
    from bosh_py.director.models import Instance
    first = plan_deployment(session, one_az(4), TWO_SUBNETS, [], set())
    rows = [Instance(id=n + 1, deployment_id=1, group=i.group, index=i.index, uuid=i.uuid, az=i.az, ip=i.ip,
                     state="started") for n, i in enumerate(first.groups[0].instances)]
    again = plan_deployment(session, one_az(4), TWO_SUBNETS, rows, set())
    assert [i.ip for i in again.groups[0].instances] == [r.ip for r in rows]
    assert [i.vm_digest for i in again.groups[0].instances] == [i.vm_digest for i in first.groups[0].instances]


def test_all_subnets_full_names_the_network_and_az():
    subnets = [Subnet.from_cloud_config("default", s) for s in TWO_SUBNETS["networks"][0]["subnets"]]
    allocator = IpAllocator()
    for _ in range(2 + 3):  # every dynamic IP of both subnets
        allocator.next_dynamic_in(subnets, "z1", "instance_groups/web/networks/0")
    with pytest.raises(IpAllocationError,
                       match=r"instance_groups/web/networks/0: network 'default' has no free IP left in az 'z1' "
                             r"\(subnets 10.0.0.0/29, 10.0.1.0/29\)"):
        allocator.next_dynamic_in(subnets, "z1", "instance_groups/web/networks/0")


def test_no_subnet_in_the_az_is_an_error_naming_it():
    subnets = [Subnet.from_cloud_config("default", s) for s in TWO_SUBNETS["networks"][0]["subnets"]]
    with pytest.raises(IpAllocationError, match="x: no subnet of network 'default' serves az 'z9'"):
        IpAllocator().next_dynamic_in(subnets, "z9", "x")


def test_a_static_ip_outside_the_azs_subnets_is_refused():
    subnets = [Subnet.from_cloud_config("default", s) for s in TWO_SUBNETS["networks"][0]["subnets"]]
    with pytest.raises(IpAllocationError, match=r"s/0: IP 10.0.9.9 is outside every subnet of network 'default'"):
        IpAllocator().claim_in(subnets, "z1", "10.0.9.9", "s/0")
