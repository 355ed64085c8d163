"""The Cloud Foundry deployment the end-to-end tests share: deployments/cf.yml with
tests/e2e/cf-test-ops.yml on a local director, cf-py logged in as admin, and the ways in
(HAProxy, each router) the tests reach apps through."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import yaml
from cf_platform.client.cc_client import CcClient

from tests.harness import BIN, REPO, LocalDirector

DOMAIN = "bosh-py.local"
TEST_OPS = REPO / "tests/e2e/cf-test-ops.yml"


@dataclass
class DeployedCf:
    director: LocalDirector
    ips: dict[str, list[str]]  # instance group -> IPs
    cf_py: Callable[..., subprocess.CompletedProcess]
    config: str  # cf-py's config file (api, token)
    password: str  # the admin's

    def deploy(self, *ops_files: Path) -> subprocess.CompletedProcess:
        """Deploy cf.yml again with the tests' ops file and then ``ops_files``."""
        extra = [arg for path in ops_files for arg in ("-o", str(path))]
        return self.director.cli("deploy", "-n", str(REPO / "deployments/cf.yml"), "-o", str(TEST_OPS), *extra)

    def cc(self) -> CcClient:
        config = json.loads(Path(self.config).read_text())
        return CcClient(config["api"], config["token"])


def prepare_cf_releases() -> None:
    for script in ("prepare-release-blobs", "prepare-cf-blobs", "prepare-cf-router-blobs", "prepare-haproxy-blobs",
                   "prepare-uaa-blobs"):
        # other test runs re-vendor cf-platform too: one at a time (the lock scripts/ share)
        lock = ["flock", "/tmp/prepare-cf-blobs.lock"] if script == "prepare-cf-blobs" else []
        subprocess.run([*lock, str(REPO / "scripts" / script)], check=True, capture_output=True)


def deploy_cf(director: LocalDirector, cf_home: Path) -> DeployedCf:
    prepare_cf_releases()
    for release in yaml.safe_load((REPO / "deployments/cf.yml").read_text())["releases"]:  # nats, router, dea …
        director.cli("upload-release", str(REPO / "releases" / release["name"]))
    env = {**director.env, "CF_PY_CONFIG": str(cf_home / "cf.json")}

    def cf_py(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "cf-py"), *args], env=env, capture_output=True, text=True, timeout=300,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"cf-py {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    deployed = DeployedCf(director, {}, cf_py, env["CF_PY_CONFIG"], "")
    deployed.deploy()
    for row in director.json("instances", "-d", "cf"):
        deployed.ips.setdefault(row["group"], []).append(row["ips"][0])
    deployed.password = director.cli("get-variable", "-d", "cf", "cf_admin_password").stdout.strip()
    cf_py("api", f"http://{deployed.ips['cloud_controller'][0]}:9022")
    cf_py("login", "-u", "admin", "-p", deployed.password)
    return deployed


def through_router(address: str, host: str) -> tuple[int, str, Message]:
    """(status, body, headers) of GET / at ``address`` for ``host``; header names match in
    any case, as HTTP says: haproxy passes them on in lower case."""
    request = urllib.request.Request(f"http://{address}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def through_haproxy(cf: DeployedCf, host: str) -> tuple[int, str, Message]:
    """The app traffic's way in: the haproxy instance's address, as users reach apps."""
    return through_router(cf.ips["haproxy"][0], host)
