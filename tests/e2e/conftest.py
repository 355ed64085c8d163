import os
from pathlib import Path

import pytest

from tests.harness import director_with_stemcell, ensure_stemcell

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
