"""Fixtures for the IaaS API emulators: each test gets a fresh emulator on 127.0.0.1, stopped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from tests.iaas.openstack_fake import OpenStackFake


@pytest.fixture
def openstack_fake() -> Iterator[OpenStackFake]:
    fake = OpenStackFake().start()
    try:
        yield fake
    finally:
        fake.stop()


def openstack_driver(fake: OpenStackFake, password: str | None = None) -> OpenStack_2_NodeDriver:
    """libcloud's real OpenStack driver, configured as the libcloud CPI configures it."""
    credentials = fake.cloud.credentials
    driver_class = get_driver(Provider.OPENSTACK)
    return driver_class(credentials.username, credentials.password if password is None else password,
                        ex_tenant_name=credentials.project, ex_domain_name=credentials.domain,
                        ex_force_auth_url=fake.auth_url, ex_force_auth_version="3.x_password", api_version="2.0",
                        ex_force_service_region=credentials.region)


@pytest.fixture
def openstack(openstack_fake: OpenStackFake) -> OpenStack_2_NodeDriver:
    return openstack_driver(openstack_fake)
