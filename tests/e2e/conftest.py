import os
from pathlib import Path

import pytest

from tests.e2e.cf_support import deploy_cf
from tests.harness import SESSION_NET, director_with_stemcell, ensure_stemcell

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Every end-to-end test needs namespace VMs and is slow. This hook sees the whole
    session's items, not just this directory's, so it marks only the ones that live here."""
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.vm)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def stemcell():
    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    return ensure_stemcell()


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py")) as local:
        yield local


@pytest.fixture(scope="session")
def cf_director(tmp_path_factory, stemcell):
    """The director of the Cloud Foundry deployment the cf modules share (test_cf.py, then
    test_cf_zero_loss.py): one deploy of cf.yml for both. It lives until the session ends, so
    it has a net of its own, apart from the module directors that come after it."""
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-cf"), net=SESSION_NET) as local:
        yield local


@pytest.fixture(scope="session")
def cf(cf_director, tmp_path_factory):
    deployed = deploy_cf(cf_director, tmp_path_factory.mktemp("cf"))
    yield deployed
    cf_director.cli("delete-deployment", "-d", "cf", "-n", check=False)
