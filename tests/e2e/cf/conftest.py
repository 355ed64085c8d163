"""The Cloud Foundry deployment this package's modules share (test_cf.py, then
test_cf_zero_loss.py, then test_postgres_service.py, which adds the postgres VM to it): one
deploy of cf.yml for all three. Package-scoped, so it is deleted and its
director stopped as soon as the last of them has run, not held through the rest of the
session beside the directors of later modules (on a 2-core machine its ~12 VMs slowed them
enough to fake silent agents)."""

import pytest

from tests.e2e.cf_support import deploy_cf
from tests.harness import SESSION_NET, director_with_stemcell


@pytest.fixture(scope="package")
def cf_director(tmp_path_factory, stemcell):
    """On a net of its own: under pytest-xdist other modules' directors may run beside it."""
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-cf"), net=SESSION_NET) as local:
        yield local


@pytest.fixture(scope="package")
def cf(cf_director, tmp_path_factory):
    deployed = deploy_cf(cf_director, tmp_path_factory.mktemp("cf"))
    yield deployed
    cf_director.cli("delete-deployment", "-d", "cf", "-n", check=False)
