"""The OpenStack emulator, driven only through libcloud's real OpenStack_2_NodeDriver over HTTP on
127.0.0.1: the calls the libcloud CPI will make, and the errors it must be able to tell apart."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.types import InvalidCredsError
from libcloud.compute.base import Node, NodeImage, NodeSize
from libcloud.compute.drivers.openstack import (
    OpenStack_2_NodeDriver,
    OpenStackSecurityGroup,
)
from libcloud.compute.types import NodeState, StorageVolumeState

from tests.iaas.conftest import openstack_driver
from tests.iaas.openstack_fake import Cloud, OpenStackFake

USER_DATA = '{"agent_id": "agent-1", "mbus": "nats://10.0.0.1:4222"}'


def create_server(driver: OpenStack_2_NodeDriver, name: str, nics: list[dict], **kwargs: object) -> Node:
    """libcloud's create_node sends ``networks`` as bare network ids; a static IP needs Nova's
    ``fixed_ip`` or ``port`` per network, so build libcloud's own request and replace only that."""
    params = driver._create_args_to_params(None, name=name, **kwargs)
    params["networks"] = nics
    created = driver.connection.request("/servers", method="POST", data={"server": params}).object["server"]
    node = driver.ex_get_node_details(created["id"])
    assert node is not None
    return node


def only(items: list, name: str):
    matches = [item for item in items if item.name == name]
    assert len(matches) == 1, f"expected one {name!r} in {items}"
    return matches[0]


def error_of(call, *args: object, **kwargs: object) -> BaseHTTPError:
    with pytest.raises(BaseHTTPError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_authenticates_and_lists_what_the_operator_prepared(openstack: OpenStack_2_NodeDriver) -> None:
    assert {size.name: (size.vcpus, size.ram, size.disk) for size in openstack.list_sizes()} == {
        "m1.small": (1, 2048, 20), "m1.medium": (2, 4096, 40)}
    assert [image.name for image in openstack.list_images()] == ["bosh-stemcell-ubuntu-jammy"]
    network = only(openstack.ex_list_networks(), "private")
    subnet = only(openstack.ex_list_subnets(), "private-subnet")
    assert (subnet.cidr, subnet.network_id) == ("10.0.0.0/24", network.id)
    assert [group.name for group in openstack.ex_list_security_groups()] == ["default"]
    assert [pair.name for pair in openstack.list_key_pairs()] == ["bosh"]


def test_a_bad_password_fails_clearly(openstack_fake: OpenStackFake) -> None:
    driver = openstack_driver(openstack_fake, password="not-the-password")
    with pytest.raises(InvalidCredsError):
        driver.list_sizes()


def test_a_call_without_a_valid_token_is_refused(openstack: OpenStack_2_NodeDriver) -> None:
    openstack.list_sizes()
    openstack.connection.auth_token = "forged-token"
    refused = error_of(openstack.connection.request, "/flavors/detail")
    assert refused.code == 401 and "requires authentication" in refused.message


def test_server_with_a_fixed_ip_and_user_data_lives_and_dies(openstack: OpenStack_2_NodeDriver) -> None:
    network = only(openstack.ex_list_networks(), "private")
    node = create_server(openstack, "bosh-vm-1", [{"uuid": network.id, "fixed_ip": "10.0.0.50"}],
                         size=only(openstack.list_sizes(), "m1.small"), image=openstack.list_images()[0],
                         ex_availability_zone="nova", ex_keyname="bosh", ex_userdata=USER_DATA,
                         ex_security_groups=openstack.ex_list_security_groups(), ex_metadata={"director": "bosh-py"})

    assert node.state == NodeState.RUNNING
    assert node.private_ips == ["10.0.0.50"]
    assert (node.extra["availability_zone"], node.extra["key_name"]) == ("nova", "bosh")
    assert node.extra["metadata"] == {"director": "bosh-py"}
    served = openstack.connection.request(f"/servers/{node.id}").object["server"]
    assert base64.b64decode(served["OS-EXT-SRV-ATTR:user_data"]).decode() == USER_DATA
    assert [listed.id for listed in openstack.list_nodes()] == [node.id]
    [port] = openstack.ex_get_node_ports(node)
    assert port.extra["fixed_ips"][0]["ip_address"] == "10.0.0.50"
    assert openstack.ex_get_port(port.id).extra["device_id"] == node.id

    assert openstack.ex_set_metadata(node, {"job": "nats", "index": "0"}) == {"job": "nats", "index": "0"}
    assert openstack.ex_get_metadata(node) == {"job": "nats", "index": "0"}

    assert openstack.stop_node(node)
    assert openstack.ex_get_node_details(node.id).state == NodeState.STOPPED
    assert openstack.reboot_node(node)
    assert openstack.ex_get_node_details(node.id).state == NodeState.RUNNING

    assert openstack.destroy_node(node)
    assert openstack.ex_get_node_details(node.id) is None
    assert openstack.list_nodes() == []
    assert openstack.ex_list_ports() == [], "the port Nova made for the server outlives it"
    again = create_server(openstack, "bosh-vm-2", [{"uuid": network.id, "fixed_ip": "10.0.0.50"}],
                          size=openstack.list_sizes()[0], image=openstack.list_images()[0])
    assert again.private_ips == ["10.0.0.50"], "the deleted server's fixed IP was not released"


def test_a_port_made_for_a_fixed_ip_carries_it_and_survives_the_server(openstack: OpenStack_2_NodeDriver) -> None:
    network = only(openstack.ex_list_networks(), "private")
    port = openstack.network_connection.request("/v2.0/ports", method="POST", data={"port": {
        "network_id": network.id, "name": "bosh-static", "fixed_ips": [{"ip_address": "10.0.0.60"}]}}
    ).object["port"]
    taken = error_of(openstack.network_connection.request, "/v2.0/ports", method="POST", data={"port": {
        "network_id": network.id, "fixed_ips": [{"ip_address": "10.0.0.60"}]}})
    assert taken.code == 409 and "10.0.0.60 already allocated" in taken.message

    node = create_server(openstack, "bosh-vm", [{"port": port["id"]}], size=openstack.list_sizes()[0],
                         image=openstack.list_images()[0])
    assert node.private_ips == ["10.0.0.60"]
    in_use = error_of(create_server, openstack, "other", [{"port": port["id"]}], size=openstack.list_sizes()[0],
                      image=openstack.list_images()[0])
    assert in_use.code == 409 and "still in use" in in_use.message

    openstack.destroy_node(node)
    kept = openstack.ex_get_port(port["id"])
    assert (kept.extra["device_id"], kept.extra["fixed_ips"][0]["ip_address"]) == ("", "10.0.0.60")


def test_volume_attach_detach_snapshot_and_delete(openstack: OpenStack_2_NodeDriver) -> None:
    node = openstack.create_node(name="bosh-vm", size=openstack.list_sizes()[0], image=openstack.list_images()[0],
                                 networks=openstack.ex_list_networks())
    volume = openstack.create_volume(10, "bosh-disk")
    assert (volume.size, volume.state) == (10, StorageVolumeState.AVAILABLE)
    assert [listed.id for listed in openstack.list_volumes()] == [volume.id]

    assert openstack.attach_volume(node, volume, device="/dev/vdc")
    attached = openstack.ex_get_volume(volume.id)
    assert attached.state == StorageVolumeState.INUSE
    [attachment] = attached.extra["attachments"]
    assert (attachment["server_id"], attachment["device"]) == (node.id, "/dev/vdc")
    assert openstack.ex_get_node_details(node.id).extra["volumes_attached"] == [{"id": volume.id}]
    twice = error_of(openstack.attach_volume, node, volume)
    assert twice.code == 400 and "status must be 'available'" in twice.message
    busy = error_of(openstack.destroy_volume, volume)
    assert busy.code == 400 and "attached" in busy.message

    # libcloud's trap: detach_volume trusts the volume object's cached attachments.
    assert openstack.detach_volume(volume)
    assert openstack.ex_get_volume(volume.id).state == StorageVolumeState.INUSE
    assert openstack.detach_volume(openstack.ex_get_volume(volume.id))
    detached = openstack.ex_get_volume(volume.id)
    assert (detached.state, detached.extra["attachments"]) == (StorageVolumeState.AVAILABLE, [])

    snapshot = openstack.create_volume_snapshot(detached, name="bosh-snap")
    assert (snapshot.size, snapshot.extra["volume_id"]) == (10, volume.id)
    assert [listed.id for listed in openstack.ex_list_snapshots()] == [snapshot.id]
    has_snapshot = error_of(openstack.destroy_volume, detached)
    assert has_snapshot.code == 400 and "dependent snapshots" in has_snapshot.message
    assert openstack.destroy_volume_snapshot(snapshot)
    assert openstack.ex_list_snapshots() == []
    assert openstack.destroy_volume(detached)
    gone = error_of(openstack.ex_get_volume, volume.id)
    assert gone.code == 404 and f"Volume {volume.id} could not be found" in gone.message
    assert openstack.list_volumes() == []


def test_detaching_a_volume_that_is_not_attached_is_not_found(openstack: OpenStack_2_NodeDriver) -> None:
    node = openstack.create_node(name="bosh-vm", size=openstack.list_sizes()[0], image=openstack.list_images()[0])
    volume = openstack.create_volume(1, "loose")
    missing = error_of(openstack.connection.request, f"/servers/{node.id}/os-volume_attachments/{volume.id}",
                       method="DELETE")
    assert missing.code == 404 and "is not attached" in missing.message


def assert_nothing_left(driver: OpenStack_2_NodeDriver, ports_before: int = 0) -> None:
    assert driver.list_nodes() == []
    assert len(driver.ex_list_ports()) == ports_before


def test_unknown_image_fails_and_leaves_no_server_or_port(openstack: OpenStack_2_NodeDriver) -> None:
    missing = NodeImage(id="no-such-image", name="gone", driver=openstack)
    failure = error_of(openstack.create_node, name="bosh-vm", size=openstack.list_sizes()[0], image=missing,
                       networks=openstack.ex_list_networks())
    assert failure.code == 400 and "Image no-such-image could not be found" in failure.message
    assert_nothing_left(openstack)


@pytest.mark.parametrize(("change", "expected"), [
    ({"size": "no-such-flavor"}, "Flavor no-such-flavor could not be found"),
    ({"network": "no-such-network"}, "Network no-such-network could not be found"),
    ({"zone": "mars"}, "availability zone is not available"),
    ({"key": "nobody"}, "Invalid key_name provided"),
    ({"group": "no-such-group"}, "Security group no-such-group not found"),
    ({"fixed_ip": "192.168.9.9"}, "Invalid fixed IP address (192.168.9.9)"),
])
def test_a_bad_reference_fails_the_create_and_leaves_nothing(openstack: OpenStack_2_NodeDriver, change: dict,
                                                             expected: str) -> None:
    network = only(openstack.ex_list_networks(), "private")
    size = openstack.list_sizes()[0]
    if "size" in change:
        size = NodeSize(id=change["size"], name="x", ram=1, disk=1, bandwidth=None, price=None, driver=openstack)
    nic = {"uuid": change.get("network", network.id)}
    if "fixed_ip" in change:
        nic["fixed_ip"] = change["fixed_ip"]
    groups = None
    if "group" in change:
        groups = [OpenStackSecurityGroup(id="x", tenant_id="x", name=change["group"], description="", driver=openstack)]
    failure = error_of(create_server, openstack, "bosh-vm", [nic], size=size, image=openstack.list_images()[0],
                       ex_availability_zone=change.get("zone"), ex_keyname=change.get("key"),
                       ex_security_groups=groups)
    assert failure.code == 400 and expected in failure.message
    assert_nothing_left(openstack)


def test_a_fixed_ip_in_use_fails_the_create(openstack: OpenStack_2_NodeDriver) -> None:
    network = only(openstack.ex_list_networks(), "private")
    args = {"size": openstack.list_sizes()[0], "image": openstack.list_images()[0]}
    create_server(openstack, "first", [{"uuid": network.id, "fixed_ip": "10.0.0.70"}], **args)
    failure = error_of(create_server, openstack, "second", [{"uuid": network.id, "fixed_ip": "10.0.0.70"}], **args)
    assert failure.code == 400 and "10.0.0.70 is already in use" in failure.message
    assert [node.name for node in openstack.list_nodes()] == ["first"]
    assert len(openstack.ex_list_ports()) == 1


@pytest.fixture
def crowded_fake() -> Iterator[OpenStackFake]:
    """A cloud with a second network that has room for one address only."""
    cloud = Cloud()
    cloud.seed()
    cloud.add_network("tiny", "10.1.0.0/30")
    fake = OpenStackFake(cloud).start()
    try:
        yield fake
    finally:
        fake.stop()


def test_a_create_that_fails_half_way_removes_the_ports_it_made(crowded_fake: OpenStackFake) -> None:
    driver = openstack_driver(crowded_fake)
    private, tiny = only(driver.ex_list_networks(), "private"), only(driver.ex_list_networks(), "tiny")
    driver.ex_create_port(tiny, name="squatter")
    failure = error_of(create_server, driver, "bosh-vm", [{"uuid": private.id}, {"uuid": tiny.id}],
                       size=driver.list_sizes()[0], image=driver.list_images()[0])
    assert failure.code == 409 and "No more IP addresses" in failure.message
    assert_nothing_left(driver, ports_before=1)


def test_no_capacity_is_a_quota_error(crowded_fake: OpenStackFake) -> None:
    crowded_fake.cloud.quota_instances = 0
    driver = openstack_driver(crowded_fake)
    failure = error_of(driver.create_node, name="bosh-vm", size=driver.list_sizes()[0],
                       image=driver.list_images()[0], networks=[only(driver.ex_list_networks(), "private")])
    assert failure.code == 403 and "Quota exceeded for instances" in failure.message
    assert_nothing_left(driver)


def test_unknown_server_and_volume_are_not_found(openstack: OpenStack_2_NodeDriver) -> None:
    assert openstack.ex_get_node_details("no-such-server") is None
    ghost = Node(id="no-such-server", name="ghost", state=NodeState.UNKNOWN, public_ips=[], private_ips=[],
                 driver=openstack)
    gone = error_of(openstack.destroy_node, ghost)
    assert gone.code == 404 and "Instance no-such-server could not be found" in gone.message
    missing = error_of(openstack.ex_get_volume, "no-such-volume")
    assert missing.code == 404


def test_attach_without_a_device_gets_the_next_free_one(openstack: OpenStack_2_NodeDriver) -> None:
    node = openstack.create_node(name="bosh-vm", size=openstack.list_sizes()[0], image=openstack.list_images()[0])
    first, second = openstack.create_volume(1, "first"), openstack.create_volume(1, "second")
    assert openstack.attach_volume(node, first)
    assert openstack.attach_volume(node, second)
    devices = {volume.id: openstack.ex_get_volume(volume.id).extra["attachments"][0]["device"]
               for volume in (first, second)}
    assert devices == {first.id: "/dev/vdb", second.id: "/dev/vdc"}
    taken = error_of(openstack.attach_volume, node, openstack.create_volume(1, "third"), device="/dev/vdb")
    assert taken.code == 400 and "(/dev/vdb) is in use" in taken.message
    assert openstack.destroy_node(node)
    assert {volume.state for volume in openstack.list_volumes()} == {StorageVolumeState.AVAILABLE}


def test_volume_extend_and_metadata(openstack: OpenStack_2_NodeDriver) -> None:
    cinder = openstack._get_volume_connection()
    volume = openstack.create_volume(5, "bosh-disk")
    assert cinder.request(f"/volumes/{volume.id}/action", method="POST",
                          data={"os-extend": {"new_size": 8}}).status == 202
    assert openstack.ex_get_volume(volume.id).size == 8
    shrink = error_of(cinder.request, f"/volumes/{volume.id}/action", method="POST",
                      data={"os-extend": {"new_size": 4}})
    assert shrink.code == 400 and "must be greater than current size" in shrink.message
    merged = cinder.request(f"/volumes/{volume.id}/metadata", method="POST",
                            data={"metadata": {"deployment": "cf"}}).object["metadata"]
    assert merged == {"contents": "bosh-disk", "deployment": "cf"}


def test_stopping_the_fake_closes_its_port(openstack_fake: OpenStackFake) -> None:
    address = urlsplit(openstack_fake.base_url)
    assert address.hostname == "127.0.0.1"
    socket.create_connection((address.hostname, address.port), timeout=5).close()
    openstack_fake.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address.hostname, address.port), timeout=5)


# --- fault injection (the emulator's test-only admin API) ------------------------------------------


def test_an_armed_fault_answers_its_status_n_times_then_the_call_works(openstack_fake: OpenStackFake,
                                                                       openstack: OpenStack_2_NodeDriver) -> None:
    openstack.list_sizes()  # authenticated before the fault is armed
    openstack_fake.admin.inject(service="nova", method="GET", path_regex=r"/flavors/detail$", status=429,
                                times=2, message="Rate limit exceeded")
    for _ in range(2):
        throttled = error_of(openstack.list_sizes)
        assert throttled.code == 429 and "Rate limit exceeded" in throttled.message
    assert len(openstack.list_sizes()) == 2
    seen = openstack_fake.admin.requests(service="nova", path_regex=r"/flavors/detail$")
    assert [r["status"] for r in seen] == [200, 429, 429, 200]
    assert openstack_fake.admin.requests(service="neutron") == []  # only what was asked of each service


def test_a_fault_can_carry_the_services_own_body(openstack_fake: OpenStackFake,
                                                 openstack: OpenStack_2_NodeDriver) -> None:
    quota = "Quota exceeded for cores: Requested 2, but already used 20 of 20 cores"
    openstack_fake.admin.inject(service="nova", method="POST", path_regex=r"/servers$", status=403,
                                body={"forbidden": {"code": 403, "message": quota}})
    refused = error_of(openstack.create_node, name="vm", size=openstack.list_sizes()[0],
                       image=openstack.list_images()[0])
    assert refused.code == 403 and quota in refused.message
    assert_nothing_left(openstack)


def test_the_admin_api_needs_its_token_and_names_a_bad_field(openstack_fake: OpenStackFake) -> None:
    def post(body: object, token: str) -> urllib.error.HTTPError:
        request = urllib.request.Request(f"{openstack_fake.base_url}/__fake/faults", method="POST",
                                         data=json.dumps(body).encode(), headers={"X-Fake-Admin-Token": token})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        return caught.value

    assert post({"status": 503}, "not-the-token").code == 403
    bad = post({"status": 503, "service": "swift"}, openstack_fake.cloud.admin_token)
    assert bad.code == 400 and "'service'" in bad.read().decode()
    no_status = post({"path_regex": "x"}, openstack_fake.cloud.admin_token)
    assert no_status.code == 400 and "'status'" in no_status.read().decode()
    assert openstack_fake.cloud.faults.request_faults == []


def test_an_armed_boot_outcome_builds_then_fails_and_can_leak_its_ports(openstack_fake: OpenStackFake,
                                                                        openstack: OpenStack_2_NodeDriver) -> None:
    openstack_fake.admin.boot(status="ERROR", build_polls=1, leak_ports=True,
                              fault={"message": "No valid host was found. There are not enough hosts available."})
    network = only(openstack.ex_list_networks(), "private")
    params = openstack._create_args_to_params(None, name="vm", size=openstack.list_sizes()[0],
                                              image=openstack.list_images()[0])
    params["networks"] = [{"uuid": network.id}]
    server_id = openstack.connection.request("/servers", method="POST", data={"server": params}).object["server"]["id"]
    first = openstack.connection.request(f"/servers/{server_id}").object["server"]
    assert (first["status"], first["OS-EXT-STS:vm_state"]) == ("BUILD", "building") and "fault" not in first
    failed = openstack.connection.request(f"/servers/{server_id}").object["server"]
    assert failed["status"] == "ERROR" and "No valid host" in failed["fault"]["message"]
    openstack.connection.request(f"/servers/{server_id}", method="DELETE")
    [leaked] = openstack.ex_list_ports()
    assert leaked.extra["device_id"] == server_id  # bound to a server that no longer exists
    assert openstack.list_nodes() == []
    plain = openstack.create_node(name="next", size=openstack.list_sizes()[0], image=openstack.list_images()[0])
    assert openstack.ex_get_node_details(plain.id).extra["vm_state"] == "active"  # armed once only


def test_expiring_tokens_mid_run_gets_a_401_and_a_new_login_works(openstack_fake: OpenStackFake,
                                                                  openstack: OpenStack_2_NodeDriver) -> None:
    openstack.list_sizes()
    openstack_fake.admin.inject(service="nova", path_regex=r"/flavors/detail$", expire_tokens=True)
    expired = error_of(openstack.list_sizes)
    assert expired.code == 401
    assert len(openstack.list_sizes()) == 2  # libcloud dropped the refused token and logged in again
    logins = openstack_fake.admin.requests(service="keystone", method="POST")
    assert [r["status"] for r in logins] == [201, 201]


def test_config_drive_is_recorded_as_nova_shows_it(openstack: OpenStack_2_NodeDriver) -> None:
    args = {"size": openstack.list_sizes()[0], "image": openstack.list_images()[0]}
    with_drive = openstack.create_node(name="with", ex_config_drive=True, **args)
    without = openstack.create_node(name="without", **args)
    shown = {node.name: openstack.connection.request(f"/servers/{node.id}").object["server"]["config_drive"]
             for node in (with_drive, without)}
    assert shown == {"with": "True", "without": ""}
    refused = error_of(create_server, openstack, "bad", [], ex_config_drive="maybe", **args)
    assert refused.code == 400 and "config_drive" in refused.message


def test_a_fault_can_let_the_first_requests_through(openstack_fake: OpenStackFake,
                                                    openstack: OpenStack_2_NodeDriver) -> None:
    openstack_fake.admin.inject(service="glance", method="GET", path_regex=r"/images$", status=503, after=1)
    assert len(openstack.list_images()) == 1
    assert error_of(openstack.list_images).code == 503
    assert len(openstack.list_images()) == 1
    assert [r["status"] for r in openstack_fake.admin.requests(service="glance")] == [200, 503, 200]
    openstack_fake.admin.reset()
    assert openstack_fake.admin.requests() == []  # admin calls themselves are never logged


def test_the_request_log_needs_the_admin_token_too(openstack_fake: OpenStackFake) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{openstack_fake.base_url}/__fake/requests", timeout=10)
    assert caught.value.code == 403
