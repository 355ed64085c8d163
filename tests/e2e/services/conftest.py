"""The Cloud Foundry deployment of this package: deployments/cf.yml (as tests/e2e/cf deploys
it) plus deployments/ops/postgres-service.yml, on a director of its own (on the session net,
as tests/e2e/cf's, since module directors may run beside it), deleted once the package ran."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.cf_support import deploy_cf
from tests.harness import REPO, SESSION_NET, director_with_stemcell

POSTGRES_OPS = REPO / "deployments/ops/postgres-service.yml"


@pytest.fixture(scope="package")
def cf_director(tmp_path_factory, stemcell):
    with director_with_stemcell(tmp_path_factory.mktemp("bosh-py-cf-pg"), net=SESSION_NET) as local:
        yield local


@pytest.fixture(scope="package")
def cf(cf_director, tmp_path_factory):
    """cf.yml first (deploy_cf also logs cf-py in), then the postgres VM added by the ops file."""
    blobs = subprocess.run([str(REPO / "scripts/prepare-postgres-blobs")], capture_output=True, text=True,
                           check=False)
    assert blobs.returncode == 0, f"scripts/prepare-postgres-blobs failed:\n{blobs.stdout}\n{blobs.stderr}"
    deployed = deploy_cf(cf_director, tmp_path_factory.mktemp("cf"))
    try:
        cf_director.cli("upload-release", str(REPO / "releases/postgres"))
        deployed.deploy(POSTGRES_OPS)
        for row in cf_director.json("instances", "-d", "cf"):
            deployed.ips.setdefault(row["group"], [])
            if row["ips"][0] not in deployed.ips[row["group"]]:
                deployed.ips[row["group"]].append(row["ips"][0])
        yield deployed
    finally:
        cf_director.cli("delete-deployment", "-d", "cf", "-n", check=False)
