import os

import pytest

from tests.harness import LocalDirector, ensure_stemcell


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.vm)


@pytest.fixture(scope="session")
def stemcell():
    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    return ensure_stemcell()


@pytest.fixture(scope="module")
def director(tmp_path_factory, stemcell):
    local = LocalDirector(tmp_path_factory.mktemp("bosh-py"))
    try:
        local.start()
        local.cli("upload-stemcell", str(stemcell))
        local.cli("update-cloud-config", "tests/e2e/cloud-config.yml")
        yield local
    finally:
        local.stop()
