"""Fixtures: the emulators (emulator_fixtures.py, vsphere_support.py); moto is reset before
each test so every test starts from an empty account."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cpi_libcloud.support import (
    Cpi,
    MotoEc2,
    World,
    make_world,
    write_config,
)
from tests.cpi_libcloud.emulator_fixtures import moto, openstack_cloud  # noqa: F401  (fixtures)
from tests.cpi_libcloud.vsphere_support import vcsim, vsphere, vsphere_cpi  # noqa: F401  (fixtures)


@pytest.fixture
def world(moto: MotoEc2) -> World:
    moto.reset()
    return make_world(moto)


@pytest.fixture
def cpi(tmp_path: Path, moto: MotoEc2, world: World) -> Cpi:
    return Cpi(write_config(tmp_path / "cpi.json", moto, world))
