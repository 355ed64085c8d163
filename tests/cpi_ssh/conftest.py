"""Fixtures for the ssh CPI's own tests: a local CPI (own root, prefix, bridge and subnet for
this BOSH_PY_TEST_NET) makes the stand-in machines; everything it made is removed at the
end, even when a test fails."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cpi_ssh.machines import (
    LOCAL_CPI,
    MachineMaker,
    cpi_ok,
    unpack_stemcell_image,
)
from tests.harness import TEST_NET, ensure_stemcell

pytestmark = pytest.mark.vm

BRIDGE = f"bsc{TEST_NET}"
SUBNET = f"10.246.{TEST_NET}"
PREFIX = "sc" + chr(ord("a") + TEST_NET)


@pytest.fixture(scope="session")
def machine_maker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MachineMaker]:
    if os.geteuid() != 0:
        pytest.skip("namespace machines need root")
    stemcell = ensure_stemcell()
    work = tmp_path_factory.mktemp("ssh-cpi-machines")
    root = Path(f"/var/lib/bosh-py/cpi-ssh-test-machines-{TEST_NET}")
    config = work / "local-cpi.json"
    config.write_text(json.dumps({"root": str(root), "bridge": BRIDGE, "prefix": PREFIX, "boot_timeout": 30}))
    maker = None
    try:
        image = unpack_stemcell_image(stemcell, work)
        stemcell_cid = cpi_ok(LOCAL_CPI, config, "create_stemcell", str(image), {})
        image.unlink()
        maker = MachineMaker(config, stemcell_cid, SUBNET)
        yield maker
    finally:
        if maker is not None:
            maker.remove_all()
        done = subprocess.run([str(LOCAL_CPI), "cleanup", "--purge", str(config)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
