"""The local CPI's session fixtures, one set for the whole run (tests/conftest.py loads this
as a plugin): tests/cpi and tests/agent/test_bpm_vm.py share one CPI, so there is one bridge
on the run's CPI test subnet, never two (two bridges on one /24 made VMs unreachable).

The CPI gets its own root, name prefix, bridge and /24 subnet, so it can run beside an
operator's CPI or another test run; its teardown runs ``cleanup --purge`` even when tests
fail, and checks that no namespace, link or mount of ours is left.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import tarfile
from pathlib import Path

import pytest

from tests.cpi.support import STEMCELL, STEMCELL_CACHE, Cpi, KeyPair, Vm
from tests.harness import TEST_NET


@pytest.fixture(scope="session")
def stemcell_tarball() -> Path:
    """Built once into the shared cache (about 30 s the first time, re-used afterwards)."""
    if not STEMCELL.exists():
        from bosh_py.stemcell.local import build_local_stemcell
        build_local_stemcell(STEMCELL_CACHE, STEMCELL, log=lambda _line: None)
    return STEMCELL


@pytest.fixture(scope="session")
def cpi(tmp_path_factory) -> Cpi:
    if os.geteuid() != 0:
        pytest.skip("local CPI VMs need root")
    tag = secrets.token_hex(2)
    work = tmp_path_factory.mktemp("cpi")
    root = Path(f"/var/lib/bosh-py/cpi-local-test-{tag}")
    # the subnet follows the test net: parallel workers (tests/harness.py) never share one
    instance = Cpi(work / "cpi.json", root, f"t{tag[:3]}", f"bpt{tag}", f"10.254.{100 + TEST_NET}")
    instance.config_path.write_text(json.dumps(
        {"root": str(root), "bridge": instance.bridge, "prefix": instance.prefix, "boot_timeout": 30}))
    yield instance
    done = instance.command("cleanup", "--purge")
    assert done.returncode == 0, done.stderr
    assert instance.our_netns() == [] and instance.our_links() == [] and instance.our_mounts() == []
    assert not root.exists()


@pytest.fixture(scope="session")
def stemcell_cid(cpi: Cpi, stemcell_tarball: Path, tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("stemcell")
    with tarfile.open(stemcell_tarball) as tar:
        tar.extract("image", work)
    cid = cpi.ok("create_stemcell", str(work / "image"), {})
    (work / "image").unlink()
    return cid


@pytest.fixture(scope="session")
def client_key() -> KeyPair:
    return KeyPair.generate("bosh-py-director")


@pytest.fixture
def make_vm(cpi: Cpi, stemcell_cid: str, client_key: KeyPair):
    """Create VMs for a test; any the test did not delete are deleted afterwards."""
    made: list[Vm] = []
    hosts = itertools.count(2 + 10 * (os.getpid() % 20))  # thread-safe next()

    def make(disk_cids: list[str] | None = None, cloud_properties: dict | None = None) -> Vm:
        host_key = KeyPair.generate("host")
        networks = cpi.networks(next(hosts))
        env = {"bosh": {"authorized_keys": [client_key.public],
                        "host_key": {"private_key": host_key.private, "public_key": host_key.public}}}
        cid, returned = cpi.ok("create_vm", "agent-1", stemcell_cid, cloud_properties or {},
                               networks, disk_cids or [], env)
        assert returned == networks
        vm = Vm(cid, networks["default"]["ip"], host_key)
        made.append(vm)
        return vm

    yield make
    for vm in made:
        if cpi.ok("has_vm", vm.cid):
            cpi.ok("delete_vm", vm.cid)
