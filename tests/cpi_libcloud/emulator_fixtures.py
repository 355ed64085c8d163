"""The EC2 (moto) and OpenStack emulator fixtures, importable by any test module that drives
the libcloud CPI (tests/cpi_libcloud's conftest, the light stemcell tests): each emulator is
a server this run owns on 127.0.0.1, stopped even when tests fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cpi_libcloud.support import MotoEc2, start_moto
from tests.iaas.openstack_fake import OpenStackFake


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoEc2]:
    """One moto server per session; tests reset it (``MotoEc2.reset``) before use."""
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openstack_cloud() -> Iterator[OpenStackFake]:
    """The OpenStack API emulator of tests/iaas on 127.0.0.1, fresh for each test, stopped after."""
    fake = OpenStackFake().start()
    try:
        yield fake
    finally:
        fake.stop()
