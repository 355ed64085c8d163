"""The per-IaaS examples an operator starts from with a light stemcell: each
deployments/cloud-config-<iaas>.yml renders with the real CLI, passes the director's own
cloud-config validator, and fits deployments/cf.yml and nats.yml; the OpenStack and vSphere
ones' cloud properties make real VMs and disks through the CPI executable against the
emulator and vcsim; the cpi-config example parses, holds no literal credential, and each CPI
takes its properties."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bosh_py.director.manifest_input import prepare_cloud_config
from bosh_py.manifest import (
    check_against_cloud_config,
    generate_variables,
    interpolate,
    parse_cloud_config,
    parse_deployment,
)
from bosh_py.manifest.cpi_config import is_credential_key, parse_cpi_config
from tests.cpi_libcloud.emulator_fixtures import openstack_cloud  # noqa: F401  (fixtures)
from tests.cpi_libcloud.support import Cpi
from tests.cpi_libcloud.vsphere_support import (  # noqa: F401  (fixtures)
    CLUSTER,
    DATACENTER,
    DATASTORE,
    PORT_GROUP,
    VsphereWorld,
    vcsim,
    vsphere,
)
from tests.cpi_libcloud.vsphere_support import write_config as write_vsphere_config
from tests.iaas.openstack_fake import OpenStackFake

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOYMENTS = REPO / "deployments"
OWNED = {"cloud-config-openstack.yml", "cloud-config-vsphere.yml"}  # must exist
EXAMPLES = sorted(p.name for p in DEPLOYMENTS.glob("cloud-config-*.yml") if p.name != "cloud-config-local.yml")
PLACEHOLDER = re.compile(r"\(\(([!A-Za-z0-9_.\-/]+)\)\)")


def example_value(name: str) -> Any:
    """A plausible value for an example's ((placeholder)), chosen by its name; names ending
    in a number (cidr_z2, gw_z2 …) get that number's own /24, so subnets never overlap."""
    number = re.search(r"(\d+)$", name)
    net = f"10.0.{16 + (int(number.group(1)) if number else 0)}"
    if "cidr" in name or "range" in name:
        return f"{net}.0/24"
    if re.search(r"(^|_)(gw|gateway)(_|$)", name):
        return f"{net}.1"
    if "reserved" in name:
        return f"{net}.2 - {net}.9"
    if "static" in name:
        return f"{net}.10 - {net}.40"
    return f"example-{name}"


def render(cwd: Path, path: Path, values: dict[str, Any]) -> str:
    """`bosh-py interpolate FILE -l VARS`: what update-cloud-config sends (strict)."""
    vars_file = cwd / f"{path.stem}-vars.yml"
    vars_file.write_text(yaml.safe_dump(values))
    done = subprocess.run([str(BIN / "bosh-py"), "interpolate", str(path), "-l", str(vars_file)], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def placeholders(path: Path) -> list[str]:
    return sorted(set(PLACEHOLDER.findall(path.read_text())))


def test_the_examples_owned_here_exist() -> None:
    assert set(EXAMPLES) >= OWNED


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_cloud_config_is_valid_and_fits_cf_and_nats(tmp_path: Path, example: str) -> None:
    path = DEPLOYMENTS / example
    text = render(tmp_path, path, {name: example_value(name) for name in placeholders(path)})
    # an example whose azs already name CPIs goes with the cpi-config example of its name
    paired = DEPLOYMENTS / example.replace("cloud-config-", "cpi-config-")
    names_cpis = any("cpi" in az for az in yaml.safe_load(text)["azs"])
    cpi_config = paired if names_cpis else DEPLOYMENTS / "cpi-config-clouds.yml"
    cpi_names = [cpi["name"] for cpi in yaml.safe_load(cpi_config.read_text())["cpis"]]
    doc = prepare_cloud_config(text, cpi_names if names_cpis else [])  # the director's check
    cloud = parse_cloud_config(doc, "cloud-config")
    assert {az.name for az in cloud.azs} >= {"z1", "z2", "z3"}
    if not names_cpis:  # beside other clouds: each az names a CPI of the cpi-config example
        for az in doc["azs"]:
            az["cpi"] = cpi_names[-1]
        prepare_cloud_config(yaml.safe_dump(doc), cpi_names)
    for manifest_name in ("cf.yml", "nats.yml"):
        raw = yaml.safe_load((DEPLOYMENTS / manifest_name).read_text())
        generated = generate_variables(raw.get("variables") or [], {})
        manifest, _ = interpolate(raw, generated, manifest_name)
        check_against_cloud_config(parse_deployment(manifest, manifest_name), cloud, manifest_name)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_cloud_config_holds_no_credential(example: str) -> None:
    """Credentials belong in the CPI config, never in a cloud-config."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if is_credential_key(key):
                    found.append(f"{path}/{key}")
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(yaml.safe_load((DEPLOYMENTS / example).read_text()), "")
    assert found == []


def openstack_cpi(tmp_path: Path, fake: OpenStackFake) -> Cpi:
    credentials = fake.cloud.credentials
    config = tmp_path / "cpi.json"
    config.write_text(json.dumps({"provider": "openstack", "openstack": {
        "auth_url": fake.auth_url, "username": credentials.username, "password": credentials.password,
        "project": credentials.project, "domain": credentials.domain, "region": credentials.region,
        "default_key_name": "bosh", "default_security_groups": ["default"]}}))
    config.chmod(0o600)
    return Cpi(config)


def test_openstack_example_cloud_properties_make_vms_and_disks(tmp_path: Path,
                                                              openstack_cloud: OpenStackFake) -> None:
    """Every vm_type and the network and disk_type of the example, rendered with the
    emulator's ids, through the CPI the way the director merges them (az, then vm_type)."""
    cloud = openstack_cloud.cloud
    [(net_id, network)] = [(i, n) for i, n in cloud.networks.items() if n["name"] == "private"]
    subnet = cloud.subnets[network["subnets"][0]]
    values = {"net_id": net_id, "internal_cidr": subnet["cidr"], "internal_gw": subnet["gateway_ip"],
              "internal_reserved": f"{subnet['gateway_ip']} - 10.0.0.9", "az1": "nova", "az2": "nova",
              "az3": "nova"}
    path = DEPLOYMENTS / "cloud-config-openstack.yml"
    assert sorted(values) == placeholders(path)
    doc = prepare_cloud_config(render(tmp_path, path, values), [])
    cpi = openstack_cpi(tmp_path, openstack_cloud)
    [image_id] = cloud.images
    z1 = doc["azs"][0]["cloud_properties"]
    [manual] = doc["networks"][0]["subnets"]
    hosts = iter(ipaddress.ip_network(manual["range"]).hosts())
    free = [str(ip) for ip in hosts if ip >= ipaddress.ip_address("10.0.0.10")]
    for index, vm_type in enumerate(doc["vm_types"]):
        networks = {"default": {"type": "manual", "ip": free[index], "netmask": "255.255.255.0",
                                "gateway": manual["gateway"], "default": ["dns", "gateway"],
                                "cloud_properties": manual["cloud_properties"]}}
        properties = {**z1, **vm_type["cloud_properties"]}
        vm_cid, answered = cpi.result("create_vm", f"agent-{index}", image_id, properties, networks, [], {})
        assert answered["default"]["ip"] == free[index]
        server = cloud.servers[vm_cid]
        flavor = cloud.flavors[server["flavor_id"]]
        assert flavor["name"] == vm_type["cloud_properties"]["flavor"], vm_type["name"]
        assert server["availability_zone"] == z1["availability_zone"]
        if index == 0:
            disk_type = doc["disk_types"][0]
            disk_cid = cpi.result("create_disk", disk_type["disk_size"], disk_type["cloud_properties"], vm_cid)
            assert cpi.result("has_disk", disk_cid) is True
            cpi.result("delete_disk", disk_cid)
        cpi.result("delete_vm", vm_cid)
    assert cloud.servers == {} and cloud.volumes == {}


def test_vsphere_example_cloud_properties_make_vms_and_disks(tmp_path: Path, vsphere: VsphereWorld) -> None:
    """Every vm_type, the network and the disk_type of the example, rendered with vcsim's
    inventory names, through the CPI the way the director merges them; the CPI config names
    no default cluster or datastore, so the cloud-config's are the ones used."""
    values = {"datacenter": DATACENTER, "cluster": CLUSTER, "datastore": DATASTORE,
              "network_name": PORT_GROUP, "internal_cidr": "10.0.0.0/24", "internal_gw": "10.0.0.1",
              "internal_reserved": "10.0.0.1 - 10.0.0.9"}
    path = DEPLOYMENTS / "cloud-config-vsphere.yml"
    assert sorted(values) == placeholders(path)
    doc = prepare_cloud_config(render(tmp_path, path, values), [])
    cpi = Cpi(write_vsphere_config(tmp_path / "cpi.json", vsphere.vcsim, default_cluster=None,
                                   default_datastore=None))
    z1 = doc["azs"][0]["cloud_properties"]
    [manual] = doc["networks"][0]["subnets"]
    for index, vm_type in enumerate(doc["vm_types"]):
        networks = {"default": {"type": "manual", "ip": f"10.0.0.{10 + index}", "netmask": "255.255.255.0",
                                "gateway": manual["gateway"], "default": ["dns", "gateway"],
                                "cloud_properties": manual["cloud_properties"]}}
        properties = {**z1, **vm_type["cloud_properties"]}
        vm_cid, _ = cpi.result("create_vm", f"agent-{index}", vsphere.template_uuid, properties, networks, [], {})
        hardware = vsphere.vm(vm_cid).config.hardware
        wanted = vm_type["cloud_properties"]
        assert (hardware.numCPU, hardware.memoryMB) == (wanted["cpu"], wanted["ram"]), vm_type["name"]
        assert [n.name for n in vsphere.vm(vm_cid).network] == [PORT_GROUP]
        if index == 0:
            disk_type = doc["disk_types"][0]
            disk_cid = cpi.result("create_disk", disk_type["disk_size"], disk_type["cloud_properties"], vm_cid)
            assert cpi.result("has_disk", disk_cid) is True
            cpi.result("delete_disk", disk_cid)
        cpi.result("delete_vm", vm_cid)
    assert vsphere.bosh_vm_names() == [] and vsphere.disk_files() == []


def test_cpi_config_example_names_three_clouds_with_credentials_only_as_variables(tmp_path: Path) -> None:
    path = DEPLOYMENTS / "cpi-config-clouds.yml"
    raw = yaml.safe_load(path.read_text())
    literal: list[str] = []

    def walk(node: Any, where: str, secret: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}/{key}", secret or is_credential_key(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}", secret)
        elif secret and not (isinstance(node, str) and PLACEHOLDER.fullmatch(node)):
            literal.append(where)

    walk(raw, "", False)
    assert literal == []
    values = {name: example_value(name) for name in placeholders(path)}
    config = parse_cpi_config(yaml.safe_load(render(tmp_path, path, values)))
    assert config.names() == ["local", "aws-east", "openstack-dc1"]
    for entry in config.cpis:
        executable = {"local": "bosh-py-cpi-local", "libcloud": "bosh-py-cpi-libcloud"}[entry.type]
        properties = tmp_path / f"{entry.name}.json"
        properties.write_text(json.dumps(entry.properties))
        properties.chmod(0o600)
        request = {"method": "info", "arguments": [], "api_version": 2, "context": {}}
        done = subprocess.run([str(BIN / executable), str(properties)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=60, check=False)
        answer = json.loads(done.stdout)
        assert answer["error"] is None, (entry.name, answer)
        assert answer["result"]["stemcell_formats"], entry.name
