"""The OpenStack provider when the cloud misbehaves, through the real ``bosh-py-cpi-libcloud``
executable: faults armed in the emulator's test-only admin API (tests/iaas/openstack_fake/admin.py),
what is left checked against the emulator's own listing, and attempts counted from the emulator's
own request log."""

from __future__ import annotations

from pathlib import Path

import pytest
from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

from tests.cpi_libcloud.openstack_support import cpi, driver  # noqa: F401  (fixtures)
from tests.cpi_libcloud.openstack_support import PROPS, assert_nothing_left, image_id, network, write_config
from tests.cpi_libcloud.support import Cpi
from tests.iaas.openstack_fake import OpenStackFake

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
SERVER_PATH = r"/servers/[0-9a-f-]{36}$"



def create_vm(cpi: Cpi, driver: OpenStack_2_NodeDriver, ip: str | None = None) -> dict:
    return cpi.call("create_vm", "agent-1", image_id(driver), PROPS, network(driver, ip=ip), [], {})


def test_a_server_that_goes_to_error_after_nova_accepted_it_leaves_nothing(
        cpi: Cpi, openstack_cloud: OpenStackFake, driver: OpenStack_2_NodeDriver) -> None:
    """Nova said 202, the server sat in BUILD, then failed; its port leaked on delete (as Nova can
    leak a failed server's ports): the CPI deletes both, so the static IP is free again."""
    openstack_cloud.admin.boot(status="ERROR", build_polls=2, leak_ports=True,
                               fault={"message": "Build of instance aborted: Failed to allocate the network(s)"})
    response = create_vm(cpi, driver, ip="10.0.0.60")
    error = response["error"]
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is False
    assert "went to ERROR: Build of instance aborted" in error["message"] and "deleted it" in error["message"]
    assert "outlived server" in response["log"]  # the leaked port was found and deleted
    assert_nothing_left(driver)
    polls = openstack_cloud.admin.requests(service="nova", method="GET", path_regex=SERVER_PATH)
    assert len(polls) >= 3  # BUILD, BUILD, ERROR: the CPI waited instead of trusting the 202
    vm_cid, networks = cpi.result("create_vm", "agent-2", image_id(driver), PROPS,
                                  network(driver, ip="10.0.0.60"), [], {})
    assert networks["default"]["ip"] == "10.0.0.60" and [n.id for n in driver.list_nodes()] == [vm_cid]


def test_no_valid_host_after_create_is_retryable(cpi: Cpi, openstack_cloud: OpenStackFake,
                                                 driver: OpenStack_2_NodeDriver) -> None:
    openstack_cloud.admin.boot(status="ERROR", fault={"message": NO_VALID_HOST, "code": 500})
    error = create_vm(cpi, driver)["error"]
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is True
    assert "No valid host was found" in error["message"]
    assert_nothing_left(driver)


def test_a_failed_server_that_cannot_be_deleted_is_named_for_the_operator(
        cpi: Cpi, openstack_cloud: OpenStackFake, driver: OpenStack_2_NodeDriver) -> None:
    openstack_cloud.admin.boot(status="ERROR", fault={"message": NO_VALID_HOST})
    openstack_cloud.admin.inject(service="nova", method="DELETE", path_regex=SERVER_PATH, status=500,
                                 message="Unexpected API Error.")
    error = create_vm(cpi, driver)["error"]
    [left] = driver.list_nodes()
    assert error["type"] == "VMCreationFailed" and f"server {left.id} failed to start" in error["message"]
    assert "could not delete it, delete it by hand" in error["message"]


def test_quota_exceeded_is_retryable(cpi: Cpi, openstack_cloud: OpenStackFake, driver: OpenStack_2_NodeDriver) -> None:
    quota = "Quota exceeded for cores: Requested 1, but already used 20 of 20 cores"
    openstack_cloud.admin.inject(service="nova", method="POST", path_regex=r"/servers$", status=403,
                                 body={"forbidden": {"code": 403, "message": quota}})
    error = create_vm(cpi, driver)["error"]
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is True and quota in error["message"]
    assert_nothing_left(driver)


@pytest.mark.parametrize(("service", "method", "path", "status"), [
    ("nova", "POST", r"/servers$", 429),
    ("neutron", "GET", r"/security-groups$", 503),
    ("nova", "GET", SERVER_PATH, 503),
])
def test_throttled_calls_are_retried_with_backoff_and_succeed(
        cpi: Cpi, openstack_cloud: OpenStackFake, driver: OpenStack_2_NodeDriver,
        service: str, method: str, path: str, status: int) -> None:
    openstack_cloud.admin.inject(service=service, method=method, path_regex=path, status=status, times=2,
                                 message="Rate limit exceeded")
    response = create_vm(cpi, driver)
    assert response["error"] is None, response["error"]
    seen = openstack_cloud.admin.requests(service=service, method=method, path_regex=path)
    assert [r["status"] for r in seen[:3]] == [status, status, seen[2]["status"]] and seen[2]["status"] < 300
    assert response["log"].count("throttled") == 2
    assert [n.id for n in driver.list_nodes()] == [response["result"][0]]


def test_throttled_past_every_retry_is_a_retryable_failure(cpi: Cpi, openstack_cloud: OpenStackFake,
                                                           driver: OpenStack_2_NodeDriver) -> None:
    openstack_cloud.admin.inject(service="nova", method="POST", path_regex=r"/servers$", status=429, times=50,
                                 message="Rate limit exceeded")
    error = create_vm(cpi, driver)["error"]
    assert error["type"] == "VMCreationFailed" and error["ok_to_retry"] is True
    assert "Rate limit exceeded" in error["message"]
    attempts = openstack_cloud.admin.requests(service="nova", method="POST", path_regex=r"/servers$")
    assert [r["status"] for r in attempts] == [429] * 6  # 1 try + 5 retries, then it gives up
    assert_nothing_left(driver)


def test_a_token_that_expires_mid_run_is_renewed(cpi: Cpi, openstack_cloud: OpenStackFake,
                                                 driver: OpenStack_2_NodeDriver) -> None:
    """Keystone expires every token between Nova accepting the server and the CPI reading it back."""
    arguments = ["agent-1", image_id(driver), PROPS, network(driver), [], {}]
    openstack_cloud.admin.reset()  # from here on, the log holds the CPI's requests only
    openstack_cloud.admin.inject(service="nova", method="GET", path_regex=SERVER_PATH, expire_tokens=True)
    response = cpi.call("create_vm", *arguments)
    assert response["error"] is None, response["error"]
    assert "logging in again" in response["log"]
    seen = openstack_cloud.admin.requests()
    refused = [r for r in seen if r["status"] == 401]
    assert refused and {r["service"] for r in refused} <= {"nova", "neutron"}
    logins_after = [r for r in seen[seen.index(refused[0]):] if r["service"] == "keystone"]
    assert len(logins_after) == len(refused) and {r["status"] for r in logins_after} == {201}
    for _method, stdout, stderr in cpi.calls:
        assert openstack_cloud.cloud.credentials.password not in stdout + stderr
        assert not any(token in stdout + stderr for token in openstack_cloud.cloud.tokens)


def test_a_refused_login_after_an_expired_token_is_a_credentials_error(
        tmp_path: Path, openstack_cloud: OpenStackFake) -> None:
    """The new login is tried once: a password changed mid-run is not retried forever."""
    cpi = Cpi(write_config(tmp_path / "cpi.json", openstack_cloud))
    openstack_cloud.admin.inject(service="nova", method="GET", path_regex=r"/flavors/detail$", expire_tokens=True)
    openstack_cloud.admin.inject(service="keystone", method="POST", path_regex=r"/auth/tokens$", status=401,
                                 after=1, times=10, message="The request you have made requires authentication.")
    error = cpi.error("calculate_vm_cloud_properties", {"cpu": 1, "ram": 1024, "ephemeral_disk_size": 1024})
    assert error["type"] == "CloudError" and "rejected the configured credentials" in error["message"]
    logins = openstack_cloud.admin.requests(service="keystone", method="POST")
    assert [r["status"] for r in logins] == [201, 401]  # the first login, then one refused new login
