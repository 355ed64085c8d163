from typing import Any

import pytest

from bosh_py.manifest import (
    ManifestError,
    check_against_cloud_config,
    interpolate,
    parse_cloud_config,
    parse_deployment,
)
from bosh_py.manifest.models import DynamicNetwork, ManualNetwork, VipNetwork
from tests.manifest.samples import group

VARS = {"nats_password": "p" * 20, "router_tls": {"ca": "C", "certificate": "C", "private_key": "K"}}


def deployment(doc: dict[str, Any]):
    return parse_deployment(interpolate(doc, VARS)[0], "manifest.yml")


def errors_of(call, *args) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as caught:
        call(*args)
    return [(e.path, e.message) for e in caught.value.details]


def deployment_errors(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return errors_of(deployment, doc)


def test_valid_documents_parse(manifest_doc, cloud_doc) -> None:
    manifest = deployment(manifest_doc)
    cloud = parse_cloud_config(cloud_doc, "cloud-config.yml")
    check_against_cloud_config(manifest, cloud, "manifest.yml")
    assert manifest.releases[0].version == "1"
    assert manifest.instance_group("router").update.serial is False
    assert manifest.update.max_in_flight == "25%"
    assert [type(n) for n in cloud.networks] == [ManualNetwork, DynamicNetwork, VipNetwork]


def test_model_round_trip(manifest_doc) -> None:
    manifest = deployment(manifest_doc)
    again = parse_deployment(manifest.model_dump(exclude_none=True), "manifest.yml")
    assert again == manifest


def test_type_error_path_uses_group_name(manifest_doc) -> None:
    group(manifest_doc, "nats")["instances"] = "2"
    with pytest.raises(ManifestError) as caught:
        deployment(manifest_doc)
    assert str(caught.value) == "manifest.yml: instance_groups/nats/instances: expected integer"


def test_job_property_path_uses_job_index(manifest_doc) -> None:
    group(manifest_doc, "router")["jobs"][0]["properties"] = "port=80"
    assert deployment_errors(manifest_doc) == [("instance_groups/router/jobs/0/properties", "expected map")]


def test_unknown_and_missing_keys(manifest_doc) -> None:
    router = group(manifest_doc, "router")
    router["instaces"] = 3
    del router["jobs"][0]["release"]
    assert deployment_errors(manifest_doc) == [
        ("instance_groups/router/jobs/0", "missing required key 'release'"),
        ("instance_groups/router", "unknown key 'instaces'"),
    ]


def test_all_problems_reported_at_once(manifest_doc) -> None:
    manifest_doc["update"]["max_in_flight"] = "0%"
    manifest_doc["update"]["canary_watch_time"] = "30000-1000"
    group(manifest_doc, "nats")["lifecycle"] = "daemon"
    del manifest_doc["stemcells"][0]["version"]
    assert deployment_errors(manifest_doc) == [
        ("stemcells/default", "missing required key 'version'"),
        ("update/max_in_flight", "max_in_flight percentage must be between 1% and 100%"),
        ("update/canary_watch_time", "range start 30000 is greater than its end 1000"),
        ("instance_groups/nats/lifecycle", "expected 'service' or 'errand'"),
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("canaries", -1, "canaries must be at least 0"),
        ("canaries", "101%", "canaries percentage must be between 0% and 100%"),
        ("max_in_flight", 0, "max_in_flight must be at least 1"),
        ("max_in_flight", "half", "expected integer or percentage like '25%', found 'half'"),
        ("max_in_flight", True, "expected integer or percentage like '25%', found boolean"),
        ("update_watch_time", "soon", "expected milliseconds or a range like '1000-30000', found 'soon'"),
        ("serial", "yes", "expected boolean"),
        ("vm_strategy", "swap", "expected 'delete-create' or 'create-swap-delete'"),
    ],
)
def test_update_ranges(manifest_doc, key: str, value: Any, message: str) -> None:
    manifest_doc["update"][key] = value
    assert deployment_errors(manifest_doc) == [(f"update/{key}", message)]


def test_update_required_at_deployment_level_only(manifest_doc) -> None:
    del manifest_doc["update"]["canaries"]
    assert deployment_errors(manifest_doc) == [("update", "missing required key 'canaries'")]


def test_semantic_errors(manifest_doc) -> None:
    nats = group(manifest_doc, "nats")
    router = group(manifest_doc, "router")
    router["stemcell"] = "jammy"
    router["jobs"].append({"name": "uaa", "release": "uaa"})
    nats["persistent_disk"] = 1024
    manifest_doc["instance_groups"].append(dict(router, jobs=[{"name": "router", "release": "router"}]))
    manifest_doc["variables"].append({"name": "k", "type": "gpg"})
    assert deployment_errors(manifest_doc) == [
        ("instance_groups/2/name", "duplicate instance group name 'router'"),
        ("variables/k/type", "unknown variable type 'gpg' (expected one of: certificate, password, rsa, ssh)"),
        ("instance_groups/nats", "specify only one of 'persistent_disk' and 'persistent_disk_type'"),
        ("instance_groups/1/stemcell", "stemcell alias 'jammy' is not defined in stemcells (defined: 'default')"),
        ("instance_groups/1/jobs/1/release", "release 'uaa' is not defined in releases (defined: 'nats', 'router')"),
        ("instance_groups/2/stemcell", "stemcell alias 'jammy' is not defined in stemcells (defined: 'default')"),
    ]


def test_stemcell_needs_os_or_name(manifest_doc) -> None:
    manifest_doc["stemcells"][0]["name"] = "bosh-local"
    assert deployment_errors(manifest_doc) == [("stemcells/default", "specify exactly one of 'os' and 'name'")]


def test_static_ip_count_and_syntax(manifest_doc) -> None:
    nats = group(manifest_doc, "nats")
    nats["networks"][0]["static_ips"] = ["10.244.0.10"]
    assert deployment_errors(manifest_doc) == [
        ("instance_groups/nats/networks/0/static_ips",
         "instance group has 2 instance(s) but 1 static IP(s) on network 'default'")]
    nats["networks"][0]["static_ips"] = ["10.244.0.10", "10.244.0.x"]
    assert deployment_errors(manifest_doc) == [
        ("instance_groups/nats/networks/0/static_ips/1", "'10.244.0.x' is not an IP address")]


def test_several_networks_need_one_default(manifest_doc) -> None:
    group(manifest_doc, "router")["networks"].append({"name": "public"})
    assert deployment_errors(manifest_doc) == [
        ("instance_groups/router/networks", "with several networks exactly one must have 'dns' in its 'default' (found 0)"),
        ("instance_groups/router/networks", "with several networks exactly one must have 'gateway' in its 'default' (found 0)"),
    ]
    group(manifest_doc, "router")["networks"][1]["default"] = ["dns", "gateway"]
    deployment(manifest_doc)


# -- cloud-config --------------------------------------------------------------------------

def cloud_errors(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return errors_of(parse_cloud_config, doc, "cloud-config.yml")


def test_cloud_config_shape_errors(cloud_doc) -> None:
    cloud_doc["networks"][0]["subnets"][0]["range"] = 10
    cloud_doc["networks"][1]["type"] = "overlay"
    cloud_doc["disk_types"][0]["disk_size"] = 0
    cloud_doc["compilation"]["workers"] = "2"
    assert cloud_errors(cloud_doc) == [
        ("networks/default/subnets/0/range", "expected string"),
        ("networks/public/type", "unknown network type 'overlay' (expected one of: manual, dynamic, vip)"),
        ("disk_types/ten/disk_size", "must be at least 1"),
        ("compilation/workers", "expected integer"),
    ]


def test_network_type_defaults_to_manual(cloud_doc) -> None:
    del cloud_doc["networks"][0]["type"]
    cloud_doc["networks"][0]["subnets"][0]["bogus"] = 1
    assert cloud_errors(cloud_doc) == [("networks/default/subnets/0", "unknown key 'bogus'")]


def test_subnet_semantics(cloud_doc) -> None:
    subnet = cloud_doc["networks"][0]["subnets"][0]
    subnet["gateway"] = "10.245.0.1"
    subnet["reserved"] = ["10.244.0.2 - 10.244.0.12", "10.244.1.1"]
    subnet["static"] = ["10.244.0.10 - 10.244.0.20", "10.244.0.300"]
    subnet["az"] = "z9"
    cloud_doc["compilation"]["network"] = "nope"
    assert cloud_errors(cloud_doc) == [
        ("networks/default/subnets/0/gateway", "gateway '10.245.0.1' is outside the subnet range 10.244.0.0/24"),
        ("networks/default/subnets/0/reserved/1", "'10.244.1.1' is outside the subnet range 10.244.0.0/24"),
        ("networks/default/subnets/0/static/1", "'10.244.0.300' is not an IP address"),
        ("networks/default/subnets/0/static/0", "'10.244.0.10 - 10.244.0.20' overlaps a reserved range"),
        ("networks/default/subnets/0", "specify only one of 'az' and 'azs'"),
        ("networks/default/subnets/0/az", "az 'z9' is not defined in azs (defined: 'z1', 'z2')"),
        ("compilation/network", "network 'nope' is not defined in networks (defined: 'default', 'public', 'vip')"),
    ]


def test_duplicate_cloud_config_names(cloud_doc) -> None:
    cloud_doc["vm_types"].append({"name": "small"})
    assert cloud_errors(cloud_doc) == [("vm_types/1/name", "duplicate vm type 'small'")]


# -- manifest against cloud-config ----------------------------------------------------------

def against_errors(manifest_doc, cloud_doc) -> list[tuple[str, str]]:
    manifest = deployment(manifest_doc)
    cloud = parse_cloud_config(cloud_doc, "cloud-config.yml")
    return errors_of(check_against_cloud_config, manifest, cloud, "manifest.yml")


def test_references_must_exist_in_cloud_config(manifest_doc, cloud_doc) -> None:
    router = group(manifest_doc, "router")
    router["vm_type"] = "huge"
    router["vm_extensions"] = ["lb", "gpu"]
    router["azs"] = ["z1", "z3"]
    router["networks"] = [{"name": "private"}]
    group(manifest_doc, "nats")["persistent_disk_type"] = "fast"
    assert against_errors(manifest_doc, cloud_doc) == [
        ("instance_groups/nats/persistent_disk_type", "disk_type 'fast' is not defined in the cloud-config (defined: 'ten')"),
        ("instance_groups/router/vm_type", "vm_type 'huge' is not defined in the cloud-config (defined: 'small')"),
        ("instance_groups/router/vm_extensions/1", "vm_extension 'gpu' is not defined in the cloud-config (defined: 'lb')"),
        ("instance_groups/router/azs/1", "az 'z3' is not defined in the cloud-config (defined: 'z1', 'z2')"),
        ("instance_groups/router/networks/0/name",
         "network 'private' is not defined in the cloud-config (defined: 'default', 'public', 'vip')"),
    ]


def test_static_ips_must_be_static_and_in_subnet(manifest_doc, cloud_doc) -> None:
    group(manifest_doc, "nats")["networks"][0]["static_ips"] = ["10.244.0.30", "10.244.9.9"]
    assert against_errors(manifest_doc, cloud_doc) == [
        ("instance_groups/nats/networks/0/static_ips", "static IP '10.244.0.30' is not in a static range of network 'default'"),
        ("instance_groups/nats/networks/0/static_ips",
         "static IP '10.244.9.9' is outside every subnet of network 'default' in azs z1, z2"),
    ]


def test_more_instances_than_dynamic_ips(manifest_doc, cloud_doc) -> None:
    cloud_doc["networks"][0]["subnets"][0]["range"] = "10.244.0.0/27"  # 30 hosts
    group(manifest_doc, "router")["instances"] = 20  # 30 - gateway - 3 reserved - 11 static = 15
    assert against_errors(manifest_doc, cloud_doc) == [
        ("instance_groups/router/networks/0/name",
         "network 'default' has 15 dynamic IP(s) for 20 instance(s) (instance groups: router)")]


def test_azs_required_when_cloud_config_has_them(manifest_doc, cloud_doc) -> None:
    del group(manifest_doc, "router")["azs"]
    assert against_errors(manifest_doc, cloud_doc) == [
        ("instance_groups/router", "missing required key 'azs' (the cloud-config defines availability zones)")]


def test_network_without_subnet_in_az(manifest_doc, cloud_doc) -> None:
    cloud_doc["networks"][0]["subnets"][0]["azs"] = ["z1"]
    group(manifest_doc, "nats")["networks"][0]["static_ips"] = ["10.244.0.10", "10.244.0.11"]
    assert against_errors(manifest_doc, cloud_doc) == [
        ("instance_groups/nats/networks/0/name", "network 'default' has no subnet in az 'z2'")]
