"""BOSH's CPI lifecycle specs and failure cases for the OpenStack provider, through the real
``bosh-py-cpi-libcloud`` executable against the OpenStack API emulator of tests/iaas on
127.0.0.1; what exists is read back from the emulator through its own API."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

from bosh_py.ssh.keys import generate_keypair
from tests.cpi_libcloud.cloud_config_checks import assert_installs_keys, parsed_cloud_config
from tests.cpi_libcloud.openstack_support import cpi, driver  # noqa: F401  (fixtures)
from tests.cpi_libcloud.openstack_support import PROPS, assert_nothing_left, image_id, network, write_config
from tests.cpi_libcloud.support import Cpi
from tests.iaas.openstack_fake import OpenStackFake



def test_vm_and_disk_lifecycle_with_a_static_ip(cpi: Cpi, driver: OpenStack_2_NodeDriver,
                                                openstack_cloud: OpenStackFake) -> None:
    env = {"bosh": {"group": "nats"}}
    vm_cid, networks = cpi.result("create_vm", "agent-1", image_id(driver), PROPS,
                                  network(driver, ip="10.0.0.50"), [], env)
    node = driver.ex_get_node_details(vm_cid)
    assert node.private_ips == ["10.0.0.50"] and networks["default"]["ip"] == "10.0.0.50"
    assert (node.extra["availability_zone"], node.extra["key_name"]) == ("nova", "bosh")
    assert node.extra["flavorId"] == "2"  # m1.small, named by the operator, sent as Nova's id
    served = driver.connection.request(f"/servers/{vm_cid}").object["server"]
    settings = parsed_cloud_config(base64.b64decode(served["OS-EXT-SRV-ATTR:user_data"]).decode())["settings"]
    assert settings["agent_id"] == "agent-1" and settings["env"] == env
    assert settings["disks"] == {"system": "/dev/vda", "persistent": {}}  # m1.small: no ephemeral disk
    assert settings["mbus"] == "nats://127.0.0.1:4222"
    assert cpi.result("has_vm", vm_cid) is True

    cpi.result("set_vm_metadata", vm_cid, {"job": "nats", "index": "0", "deployment": "nats"})
    metadata = driver.ex_get_metadata(node)
    assert metadata["deployment"] == "nats" and metadata["name"] == "nats/0"
    assert metadata["agent_id"] == "agent-1"
    cpi.result("reboot_vm", vm_cid)
    reboots = openstack_cloud.admin.requests(service="nova", method="POST", path_regex=rf"/servers/{vm_cid}/action$")
    assert [r["status"] for r in reboots] == [202]

    disk_cid = cpi.result("create_disk", 1500, {}, vm_cid)
    volume = driver.ex_get_volume(disk_cid)
    assert volume.size == 2 and volume.extra["location"] == "nova"  # 1500 MB → 2 GiB
    assert cpi.result("has_disk", disk_cid) is True

    assert cpi.result("attach_disk", vm_cid, disk_cid) == "/dev/vdb"
    [attachment] = driver.ex_get_volume(disk_cid).extra["attachments"]
    assert attachment["server_id"] == vm_cid
    assert cpi.result("attach_disk", vm_cid, disk_cid) == "/dev/vdb"  # again: same hint
    assert cpi.result("get_disks", vm_cid) == [disk_cid]
    busy = cpi.error("delete_disk", disk_cid)
    assert busy["type"] == "CloudError" and vm_cid in busy["message"]

    cpi.result("set_disk_metadata", disk_cid, {"deployment": "nats"})
    assert driver.ex_get_volume(disk_cid).extra["metadata"]["deployment"] == "nats"

    cpi.result("detach_disk", vm_cid, disk_cid)
    assert driver.ex_get_volume(disk_cid).extra["attachments"] == []
    assert cpi.result("get_disks", vm_cid) == []
    snapshot_cid = cpi.result("snapshot_disk", disk_cid, {"deployment": "nats", "job": "nats",
                                                          "index": "0"})
    [snapshot] = driver.ex_list_snapshots()
    assert (snapshot.id, snapshot.extra["volume_id"]) == (snapshot_cid, disk_cid)
    cpi.result("delete_snapshot", snapshot_cid)
    assert driver.ex_list_snapshots() == []
    assert "already gone" in cpi.call("delete_snapshot", snapshot_cid)["log"]
    cpi.result("resize_disk", disk_cid, 4096)
    assert driver.ex_get_volume(disk_cid).size == 4
    shrink = cpi.error("resize_disk", disk_cid, 1024)
    assert shrink["type"] == "CloudError" and "cannot shrink" in shrink["message"]
    cpi.result("delete_disk", disk_cid)
    assert cpi.result("has_disk", disk_cid) is False
    cpi.result("delete_vm", vm_cid)
    assert cpi.result("has_vm", vm_cid) is False
    assert_nothing_left(driver)


def test_user_data_is_the_cloud_config_that_installs_the_pinned_host_key(
        cpi: Cpi, driver: OpenStack_2_NodeDriver) -> None:
    """What Nova serves (and writes to a config drive) is the #cloud-config EC2 gets: cloud-init on
    a stock image makes the director's pinned key the VM's host key and its key root's."""
    host, director = generate_keypair("host"), generate_keypair("director")
    env = {"bosh": {"host_key": host.as_env(), "authorized_keys": [director.public_key]}}
    vm_cid, _ = cpi.result("create_vm", "agent-1", image_id(driver), {**PROPS, "config_drive": True},
                           network(driver), [], env)
    served = driver.connection.request(f"/servers/{vm_cid}").object["server"]
    assert served["config_drive"] == "True"
    document = parsed_cloud_config(base64.b64decode(served["OS-EXT-SRV-ATTR:user_data"]).decode())
    assert_installs_keys(document, host.public_key, host.private_key, [director.public_key])
    assert document["settings"]["agent_id"] == "agent-1" and document["settings"]["env"] == env
    cpi.result("delete_vm", vm_cid)
    assert_nothing_left(driver)


def test_a_host_key_cloud_init_cannot_install_makes_nothing(cpi: Cpi, driver: OpenStack_2_NodeDriver) -> None:
    env = {"bosh": {"host_key": {"private_key": "PRIVATE-KEY-TEXT", "public_key": "ssh-dss AAAA"}}}
    answer = cpi.call("create_vm", "agent-1", image_id(driver), PROPS, network(driver), [], env)
    assert answer["error"]["type"] == "InvalidCall" and "env.bosh.host_key" in answer["error"]["message"]
    assert "PRIVATE-KEY-TEXT" not in json.dumps(answer)  # the private key is not echoed
    assert_nothing_left(driver)


@pytest.mark.parametrize(("change", "named"), [
    ("image", "Image no-such-image could not be found"),
    ("network", "Network no-such-network could not be found"),
    ("flavor", "Flavor no-such-flavor could not be found"),
    ("fixed_ip", "192.168.9.9"),
])
def test_a_create_that_fails_leaves_nothing_and_says_why(cpi: Cpi, driver: OpenStack_2_NodeDriver,
                                                         change: str, named: str) -> None:
    image = "no-such-image" if change == "image" else image_id(driver)
    props = dict(PROPS, flavor="no-such-flavor") if change == "flavor" else PROPS
    nets = network(driver, ip="192.168.9.9" if change == "fixed_ip" else None,
                   net_id="no-such-network" if change == "network" else None)
    error = cpi.error("create_vm", "agent-1", image, props, nets, [], {})
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is False
    assert named in error["message"]
    assert_nothing_left(driver)


def test_no_capacity_is_retryable(cpi: Cpi, openstack_cloud: OpenStackFake,
                                  driver: OpenStack_2_NodeDriver) -> None:
    openstack_cloud.cloud.quota_instances = 0
    error = cpi.error("create_vm", "agent-1", image_id(driver), PROPS, network(driver), [], {})
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is True
    assert "Quota exceeded" in error["message"]
    assert_nothing_left(driver)


def test_deleting_twice_says_not_found(cpi: Cpi, driver: OpenStack_2_NodeDriver) -> None:
    vm_cid, _ = cpi.result("create_vm", "agent-1", image_id(driver), PROPS, network(driver), [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("delete_vm", vm_cid)
    cpi.result("delete_disk", disk_cid)
    assert cpi.error("delete_vm", vm_cid)["type"] == "VMNotFound"
    assert cpi.error("delete_disk", disk_cid)["type"] == "DiskNotFound"
    assert cpi.error("reboot_vm", vm_cid)["type"] == "VMNotFound"
    assert cpi.error("set_vm_metadata", vm_cid, {"a": "b"})["type"] == "VMNotFound"
    assert cpi.error("attach_disk", vm_cid, disk_cid)["type"] == "VMNotFound"
    assert cpi.error("get_disks", vm_cid)["type"] == "VMNotFound"
    assert cpi.result("has_vm", "no-such-server") is False
    assert cpi.result("has_disk", "no-such-volume") is False


def test_detaching_a_disk_that_is_not_attached_does_not_fail(cpi: Cpi, driver: OpenStack_2_NodeDriver) -> None:
    vm_cid, _ = cpi.result("create_vm", "agent-1", image_id(driver), PROPS, network(driver), [], {})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    response = cpi.call("detach_disk", vm_cid, disk_cid)
    assert response["error"] is None and "not attached" in response["log"]


@pytest.mark.parametrize("field", ["password", "username", "project"])
def test_bad_credentials_are_a_clear_error_without_secrets(
        tmp_path: Path, openstack_cloud: OpenStackFake, driver: OpenStack_2_NodeDriver, field: str) -> None:
    cpi = Cpi(write_config(tmp_path / "bad.json", openstack_cloud, **{field: "wrong-" + "x" * 24}))
    error = cpi.error("create_vm", "agent-1", image_id(driver), PROPS, network(driver), [], {})
    assert error["type"] in ("CloudError", "VMCreationFailed")
    assert "rejected the configured credentials" in error["message"]
    assert cpi.error("has_vm", "no-such-server")["type"] == "CloudError"
    assert driver.list_nodes() == []
    for _method, stdout, stderr in cpi.calls:
        for secret in (openstack_cloud.cloud.credentials.password, "wrong-" + "x" * 24):
            if field == "password" or secret != "wrong-" + "x" * 24:
                assert secret not in stdout and secret not in stderr


def test_no_secret_in_any_output(cpi: Cpi, openstack_cloud: OpenStackFake,
                                 driver: OpenStack_2_NodeDriver) -> None:
    """Every call of a lifecycle, failures included: the password never shows."""
    vm_cid, _ = cpi.result("create_vm", "agent-1", image_id(driver), PROPS, network(driver), [],
                           {"bosh": {"password": "env-secret-password"}})
    disk_cid = cpi.result("create_disk", 1024, {}, vm_cid)
    cpi.result("attach_disk", vm_cid, disk_cid)
    cpi.error("delete_disk", disk_cid)
    cpi.error("create_vm", "agent-2", "no-such-image", PROPS, network(driver), [], {})
    cpi.call("no_such_method")
    # an argument that echoes the password back (a VM id nobody has) proves it is redacted
    password = openstack_cloud.cloud.credentials.password
    echoed = cpi.error("delete_vm", password)
    assert echoed["type"] == "VMNotFound" and "<redacted>" in echoed["message"]
    assert len(cpi.calls) == 7
    for _method, stdout, stderr in cpi.calls:
        for secret in (password, "env-secret-password"):
            assert secret not in stdout and secret not in stderr


@pytest.mark.parametrize("missing", ["auth_url", "username", "password", "project", "domain", "region"])
def test_every_identity_field_is_required(tmp_path: Path, openstack_cloud: OpenStackFake,
                                          missing: str) -> None:
    path = write_config(tmp_path / "cpi.json", openstack_cloud)
    config = json.loads(path.read_text())
    del config["openstack"][missing]
    path.write_text(json.dumps(config))
    error = Cpi(path).error("has_vm", "no-such-server")
    assert error["type"] == "InvalidCall" and f"openstack.{missing}" in error["message"]


def test_light_stemcell_names_an_existing_glance_image(cpi: Cpi, driver: OpenStack_2_NodeDriver) -> None:
    image = image_id(driver)
    assert cpi.result("create_stemcell", "/unused.tgz", {"image_id": image}) == image
    missing = cpi.error("create_stemcell", "/unused.tgz", {"image_id": "no-such-image"})
    assert missing["type"] == "CloudError" and "no-such-image" in missing["message"]
    assert cpi.result("delete_stemcell", image) is None
    assert [listed.id for listed in driver.list_images()] == [image]


def test_disk_calls_on_a_missing_disk_say_not_found(cpi: Cpi) -> None:
    for method, arguments in (("set_disk_metadata", [{"a": "b"}]), ("snapshot_disk", [{}]),
                              ("resize_disk", [2048])):
        assert cpi.error(method, "no-such-volume", *arguments)["type"] == "DiskNotFound", method


def test_tenant_is_accepted_for_project(tmp_path: Path, openstack_cloud: OpenStackFake) -> None:
    path = write_config(tmp_path / "cpi.json", openstack_cloud)
    config = json.loads(path.read_text())
    config["openstack"]["tenant"] = config["openstack"].pop("project")
    path.write_text(json.dumps(config))
    assert Cpi(path).result("has_vm", "no-such-server") is False


def test_a_vm_without_flavor_or_network_id_is_refused_before_any_call(
        cpi: Cpi, driver: OpenStack_2_NodeDriver) -> None:
    no_flavor = cpi.error("create_vm", "agent-1", image_id(driver), {}, network(driver), [], {})
    assert no_flavor["type"] == "InvalidCall" and "cloud_properties.flavor" in no_flavor["message"]
    bare = {"default": {"type": "dynamic", "cloud_properties": {}}}
    no_net = cpi.error("create_vm", "agent-1", image_id(driver), PROPS, bare, [], {})
    assert no_net["type"] == "InvalidCall" and "net_id" in no_net["message"]
    assert_nothing_left(driver)


def test_info_names_the_light_stemcell_format(cpi: Cpi) -> None:
    assert cpi.result("info") == {"stemcell_formats": ["openstack-light"], "api_version": 2}
