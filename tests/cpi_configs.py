"""Test support for several CPIs at once: cpi-configs naming two real local CPIs (own root and
name prefix, the test run's bridge), the matching cloud-configs, and each CPI's own listing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.harness import BIN, E2E_CLOUD_CONFIG, TEST_BRIDGE, TEST_NET, TEST_SUBNET

SECRET = "cpi-config-s3cret-9f4e2a"  # a credential the tests pass with -v and look for everywhere


def local_cpi_properties(root: Path, letter: str) -> dict:
    """A local CPI's config: its own root and name prefix, so its VMs are told apart from the
    other CPI's and from the director's own, and its ``cleanup`` touches only them."""
    return {"root": str(root / f"cpi-{letter}"), "bridge": TEST_BRIDGE,
            "prefix": f"c{chr(ord('a') + TEST_NET)}{letter}"}


def two_local_cpis(root: Path, with_secret: bool = True) -> dict:
    """``local-a`` and ``local-b``; each carries a ``((cpi_password))`` property (the local CPI
    ignores keys it does not know) so the tests can follow a credential through the system."""
    cpis = []
    for letter in ("a", "b"):
        properties = local_cpi_properties(root, letter)
        if with_secret:
            properties["api_password"] = "((cpi_password))"
        cpis.append({"name": f"local-{letter}", "type": "local", "properties": properties})
    return {"cpis": cpis}


def write_yaml(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cloud_config_on_cpis(azs_to_cpis: dict[str, str | None]) -> dict:
    """tests/e2e/cloud-config.yml moved to this run's subnet, with each AZ naming its CPI."""
    doc = yaml.safe_load(E2E_CLOUD_CONFIG.read_text().replace("10.245.0.", f"{TEST_SUBNET}."))
    doc["azs"] = [{"name": az, **({"cpi": cpi} if cpi else {})} for az, cpi in azs_to_cpis.items()]
    for network in doc["networks"]:
        for subnet in network["subnets"]:
            subnet["azs"] = list(azs_to_cpis)
    return doc


def cpi_listing(config_path: Path) -> dict:
    """What one local CPI itself holds (`bosh-py-cpi-local list --json CONFIG`)."""
    result = subprocess.run([str(BIN / "bosh-py-cpi-local"), "list", "--json", str(config_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def cleanup_cpi(config_path: Path) -> None:
    """Remove everything that CPI made (VMs, disks, stemcells, its netns and veths)."""
    subprocess.run([str(BIN / "bosh-py-cpi-local"), "cleanup", "--purge", str(config_path)],
                   capture_output=True, text=True, timeout=300, check=False)


def add_compiled_package(release: Path, job: str) -> Path:
    """Give a release written by live_director.write_release one package its job uses, so a
    deploy needs a compilation VM (made by the compilation AZ's CPI) and the job's VM gets it."""
    package = release / "packages" / "marker"
    package.mkdir(parents=True, exist_ok=True)
    (package / "spec").write_text(yaml.safe_dump({"name": "marker", "dependencies": [],
                                                  "files": ["marker/marker.txt"]}))
    (package / "packaging").write_text("set -eu\ncp marker/marker.txt \"${BOSH_INSTALL_TARGET}/marker.txt\"\n")
    (release / "src" / "marker").mkdir(parents=True, exist_ok=True)
    (release / "src" / "marker" / "marker.txt").write_text("compiled\n")
    spec_path = release / "jobs" / job / "spec"
    spec = yaml.safe_load(spec_path.read_text())
    spec["packages"] = ["marker"]
    spec_path.write_text(yaml.safe_dump(spec))
    return release
