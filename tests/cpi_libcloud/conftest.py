"""Fixtures: one moto server per session (a subprocess this run owns, stopped even when
tests fail), reset before each test so every test starts from an empty account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cpi_libcloud.support import (
    Cpi,
    MotoEc2,
    World,
    make_world,
    start_moto,
    write_config,
)
from tests.cpi_libcloud.vsphere_support import vcsim, vsphere, vsphere_cpi  # noqa: F401  (fixtures)
from tests.iaas.openstack_fake import OpenStackFake


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoEc2]:
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(moto: MotoEc2) -> World:
    moto.reset()
    return make_world(moto)


@pytest.fixture
def cpi(tmp_path: Path, moto: MotoEc2, world: World) -> Cpi:
    return Cpi(write_config(tmp_path / "cpi.json", moto, world))


@pytest.fixture
def openstack_cloud() -> Iterator[OpenStackFake]:
    """The OpenStack API emulator of tests/iaas on 127.0.0.1, fresh for each test, stopped after."""
    fake = OpenStackFake().start()
    try:
        yield fake
    finally:
        fake.stop()
