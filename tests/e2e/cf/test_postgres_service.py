"""The PostgreSQL service end to end on real VMs: releases/postgres deployed with cf.yml
(deployments/ops/postgres-service.yml), its broker registered with cf-py, an app that reads
VCAP_SERVICES writes a row and reads it back through HAProxy and a router; unbind-service
makes the app's credentials stop working; the data survives `bosh-py recreate` of the
database VM; deleting the app drops its binding's role.

The postgres VM is added to the Cloud Foundry deployment this package's modules share (its
conftest), after test_cf.py and test_cf_zero_loss.py ran on it: a deployment of its own cost
a second director and a second deploy and deletion of the whole platform (about three minutes
of a CI worker's time), and left this test's setup near pytest-timeout's bound under load.

The app (notes_app/) talks to PostgreSQL with pg8000, a pure-Python client installed with
pip into the app's directory before the push (the DEA's python3 has only the standard
library and no package index reachable), as a Python app vendors its dependencies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.cf_support import DOMAIN, DeployedCf
from tests.harness import REPO, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.vm]

APP_SOURCE = Path(__file__).resolve().parent / "notes_app"
HOST = f"notes.{DOMAIN}"
POSTGRES_OPS = REPO / "deployments/ops/postgres-service.yml"


@pytest.fixture(scope="module")
def cf(cf: DeployedCf, cf_director) -> DeployedCf:
    """The package's cf with the postgres VM added by the ops file (the package's teardown
    deletes the whole deployment, this VM and its disk with it)."""
    blobs = subprocess.run([str(REPO / "scripts/prepare-postgres-blobs")], capture_output=True, text=True,
                           check=False)
    assert blobs.returncode == 0, f"scripts/prepare-postgres-blobs failed:\n{blobs.stdout}\n{blobs.stderr}"
    cf_director.cli("upload-release", str(REPO / "releases/postgres"))
    cf.deploy(POSTGRES_OPS)
    for row in cf_director.json("instances", "-d", "cf"):
        cf.ips.setdefault(row["group"], [])
        if row["ips"][0] not in cf.ips[row["group"]]:
            cf.ips[row["group"]].append(row["ips"][0])
    return cf


def get(cf: DeployedCf, path: str) -> tuple[int, str]:
    """GET ``path`` of the app through HAProxy, the way users reach apps."""
    request = urllib.request.Request(f"http://{cf.ips['haproxy'][0]}{path}", headers={"Host": HOST})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def answers(cf: DeployedCf, path: str, status: int, timeout: float = 90) -> str:
    """The body once ``path`` answers ``status`` (routes and restarts take a moment)."""
    seen: list[tuple[int, str]] = []

    def check() -> bool:
        seen.append(get(cf, path))
        return seen[-1][0] == status

    try:
        wait_until(check, timeout=timeout, interval=1.0)
    except AssertionError:
        raise AssertionError(f"GET {path} never answered {status}; last: {seen[-1:]}") from None
    return seen[-1][1]


def cf_py(cf: DeployedCf, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(Path(sys.executable).parent / "cf-py"), *args], capture_output=True, text=True,
                            timeout=300, check=False,
                            env={**cf.director.env, "CF_PY_CONFIG": cf.config, **(env or {})})
    assert result.returncode == 0, f"cf-py {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


def binding_credentials(cf: DeployedCf) -> dict:
    """The notes app's binding credentials, as an admin reads them from the CC's API."""
    config = json.loads(Path(cf.config).read_text())
    headers = {"Authorization": f"bearer {config['token']}"}
    bindings = httpx.get(config["api"] + "/v2/service_bindings", headers=headers, timeout=30).json()["resources"]
    assert len(bindings) == 1, bindings
    return bindings[0]["entity"]["credentials"]


def can_log_in(credentials: dict) -> bool:
    try:
        with psycopg.connect(host=credentials["hostname"], port=credentials["port"], user=credentials["username"],
                             password=credentials["password"], dbname=credentials["name"], connect_timeout=10):
            return True
    except psycopg.OperationalError as error:
        assert "password authentication failed" in str(error), error
        return False


def postgres_vm(director) -> dict:
    rows = [row for row in director.json("instances", "-d", "cf") if row["group"] == "postgres"]
    assert len(rows) == 1 and rows[0]["vm_cid"], rows
    return rows[0]


@pytest.fixture
def notes_app(tmp_path) -> Path:
    """notes_app/ with pg8000 (and scramp, asn1crypto, python-dateutil) beside it."""
    app = tmp_path / "notes"
    shutil.copytree(APP_SOURCE, app)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(app), "pg8000"],
                   check=True, capture_output=True, timeout=300)
    return app


def test_an_app_keeps_its_rows_in_the_postgres_service_across_unbind_and_recreate(cf, cf_director, notes_app):
    postgres_ip = cf.ips["postgres"][0]
    broker_password = cf_director.cli("get-variable", "-d", "cf", "postgres_broker_password").stdout.strip()
    cf_py(cf, "create-service-broker", "pg", "broker", "-", f"http://{postgres_ip}:8080",
          env={"CF_PY_BROKER_PASSWORD": broker_password})
    assert "postgresql" in cf_py(cf, "marketplace").stdout
    cf_py(cf, "create-service", "postgresql", "default", "notes-db", "--wait")
    cf_py(cf, "push", "notes", "-p", str(notes_app), "-m", "64M")
    assert "no postgresql service is bound" in answers(cf, "/read", 500)

    cf_py(cf, "bind-service", "notes", "notes-db")
    cf_py(cf, "restart", "notes")
    assert answers(cf, "/write?note=first", 200) == "written\n"
    assert get(cf, "/read") == (200, "first\n")
    first = binding_credentials(cf)
    assert first["hostname"] == postgres_ip and can_log_in(first)

    # unbind: the broker drops the role; the running app still holds the old password
    cf_py(cf, "unbind-service", "notes", "notes-db")
    status, body = get(cf, "/read")
    assert status == 500 and "28P01" in body, body       # invalid_password
    assert not can_log_in(first)

    # the database VM is recreated: a new VM, the same persistent disk
    before = postgres_vm(cf_director)
    cf_director.cli("recreate", "-d", "cf", "postgres", "-n")
    assert postgres_vm(cf_director)["vm_cid"] != before["vm_cid"]
    cf_py(cf, "bind-service", "notes", "notes-db")
    cf_py(cf, "restart", "notes")
    assert answers(cf, "/read", 200) == "first\n"
    assert answers(cf, "/write?note=second", 200) == "written\n"
    assert get(cf, "/read") == (200, "first\nsecond\n")
    second = binding_credentials(cf)
    assert second["username"] != first["username"] and can_log_in(second)

    # deleting the app unbinds it: its role is dropped at the broker
    cf_py(cf, "delete", "notes", "-f")
    assert not can_log_in(second)
    cf_py(cf, "delete-service", "notes-db", "-f", "--wait")
    cf_py(cf, "delete-service-broker", "pg", "-f")

    # no secret reached the director's task logs (debug included)
    admin_password = cf_director.cli("get-variable", "-d", "cf", "postgres_admin_password").stdout.strip()
    logs = "".join(cf_director.cli("task", str(task["id"]), "--debug", check=False).stdout
                   for task in cf_director.json("tasks", "--recent", "30"))
    for secret in (admin_password, broker_password, first["password"], second["password"]):
        assert secret not in logs
