"""Dynamic IP capacity is checked AZ by AZ, the way the planner places instances (instance
i in azs[i % len(azs)], the first subnet serving that AZ with room, cloud-config order):
a network with room in all but not in one AZ is refused at validation, naming the group,
the network, the AZ and the counts, instead of failing later while planning."""

from __future__ import annotations

from typing import Any

import yaml

from bosh_py.manifest import ManifestError, check_against_cloud_config, parse_cloud_config, parse_deployment
from tests.director.dummy_support import dummy_director, manifest


def subnet(third: int, azs: list[str], dynamic: int) -> dict[str, Any]:
    """10.0.<third>.0/24 with exactly ``dynamic`` dynamic addresses (.2 up), the rest reserved."""
    return {"range": f"10.0.{third}.0/24", "gateway": f"10.0.{third}.1", "azs": azs,
            "reserved": [f"10.0.{third}.{2 + dynamic} - 10.0.{third}.254"]}


def cloud(*subnets: dict[str, Any]) -> dict[str, Any]:
    return {"azs": [{"name": "z1"}, {"name": "z2"}], "vm_types": [{"name": "small"}],
            "networks": [{"name": "default", "type": "manual", "subnets": list(subnets)}],
            "compilation": {"workers": 1, "az": "z1", "vm_type": "small", "network": "default"}}


def deployment(*groups: tuple[str, int, list[str]]) -> dict[str, Any]:
    return {"name": "d", "releases": [{"name": "r", "version": "1"}],
            "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
            "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": 1000, "update_watch_time": 1000},
            "instance_groups": [{"name": name, "instances": count, "azs": azs, "vm_type": "small",
                                 "stemcell": "default", "networks": [{"name": "default"}],
                                 "jobs": [{"name": "j", "release": "r"}]} for name, count, azs in groups]}


def errors(manifest_doc: dict[str, Any], cloud_doc: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        check_against_cloud_config(parse_deployment(manifest_doc, "manifest"), parse_cloud_config(cloud_doc, "cc"))
    except ManifestError as error:
        return [(e.path, e.message) for e in error.details]
    return []


def test_one_az_short_is_refused_though_the_network_has_room_in_all():
    # 11 dynamic IPs in all, 3 instances: web/0 z1, web/1 z2, web/2 z1 -> z1 needs 2, has 1
    assert errors(deployment(("web", 3, ["z1", "z2"])), cloud(subnet(1, ["z1"], 1), subnet(2, ["z2"], 10))) == [
        ("instance_groups/web/networks/0/name",
         "network 'default' has 1 dynamic IP(s) in az 'z1' for 2 instance(s) placed there (instance groups: web)")]


def test_the_round_robin_order_decides_which_az_gets_more():
    # azs [z2, z1]: web/0 z2, web/1 z1, web/2 z2 -> z1 needs only 1
    assert errors(deployment(("web", 3, ["z2", "z1"])), cloud(subnet(1, ["z1"], 1), subnet(2, ["z2"], 10))) == []


def test_every_subnet_serving_an_az_counts():
    assert errors(deployment(("web", 3, ["z1", "z2"])),
                  cloud(subnet(1, ["z1"], 1), subnet(3, ["z1"], 1), subnet(2, ["z2"], 10))) == []


def test_groups_on_one_network_add_up_per_az():
    doc = deployment(("db", 1, ["z1"]), ("web", 3, ["z1", "z2"]))
    assert errors(doc, cloud(subnet(1, ["z1"], 2), subnet(2, ["z2"], 10))) == [
        ("instance_groups/web/networks/0/name",
         "network 'default' has 2 dynamic IP(s) in az 'z1' for 3 instance(s) placed there (instance groups: db, web)")]


def test_a_subnet_shared_with_another_az_is_taken_in_cloud_config_order():
    # the shared subnet comes first, so web/1 (z2) takes one of its two before web/2 (z1) asks
    shared = cloud(subnet(1, ["z1", "z2"], 2), subnet(2, ["z2"], 10))
    assert errors(deployment(("web", 3, ["z1", "z2"])), shared) == [
        ("instance_groups/web/networks/0/name",
         "network 'default' has 2 dynamic IP(s) in az 'z1' for 2 instance(s) placed there (instance groups: web); "
         "its subnets also serve other azs, whose instances take 1 of them first")]


def test_the_total_shortfall_keeps_its_message():
    assert errors(deployment(("web", 5, ["z1", "z2"])), cloud(subnet(1, ["z1"], 2), subnet(2, ["z2"], 2))) == [
        ("instance_groups/web/networks/0/name",
         "network 'default' has 4 dynamic IP(s) for 5 instance(s) (instance groups: web)")]


def test_deploy_is_refused_before_any_task(tmp_path):
    """Through the CLI: the director answers the deploy with the validation error at once."""
    with dummy_director(tmp_path) as director:
        cloud_doc = yaml.safe_load((director.root / "cloud-config.yml").read_text())
        cloud_doc["networks"][0]["subnets"] = [
            {"range": "127.254.1.0/24", "gateway": "127.254.1.1", "azs": ["z1"],
             "reserved": ["127.254.1.3 - 127.254.1.254"]},  # one dynamic IP in z1
            {"range": "127.254.2.0/24", "gateway": "127.254.2.1", "azs": ["z2"],
             "reserved": ["127.254.2.20 - 127.254.2.254"]}]
        cloud_doc["compilation"]["az"] = "z2"
        (director.root / "cc.yml").write_text(yaml.safe_dump(cloud_doc))
        director.cli("update-cloud-config", str(director.root / "cc.yml"))
        tasks_before = director.json("tasks", "-r", "50")
        path = director.root / "three.yml"
        path.write_text(yaml.safe_dump(manifest(instances=3)))  # loop/0 z1, loop/1 z2, loop/2 z1
        result = director.cli("deploy", "-n", str(path), check=False)
        assert result.returncode == 1
        assert ("instance_groups/loop/networks/0/name: network 'default' has 1 dynamic IP(s) in az 'z1' "
                "for 2 instance(s) placed there (instance groups: loop)") in result.stderr, result.stderr
        assert director.json("tasks", "-r", "50") == tasks_before and director.vms() == {}
