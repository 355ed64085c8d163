"""The Cloud Foundry releases as shipped: one release per component, each vendoring the
cf-platform package of releases/cf_platform (scripts/prepare-cf-blobs, run by setup), and
deployments/cf.yml naming them all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cf_platform
import pytest
import yaml

from bosh_py.release import open_release_tarball, read_release_dir
from bosh_py.release.final_builds import final_build_archive

from .conftest import REPO, VENV_BIN

COMPONENTS = {"router": ["cf-platform", "nginx"], "dea": ["buildpacks", "cf-platform"],
              "cloud_controller": ["cf-platform", "python3-cryptography"], "health_manager": ["cf-platform"]}
CF_PLATFORM = REPO / "releases" / "cf_platform"


def test_cf_yml_names_one_release_per_component_and_nats():
    manifest = yaml.safe_load((REPO / "deployments/cf.yml").read_text())
    named = {r["name"] for r in manifest["releases"]}
    assert {"nats", *COMPONENTS} <= named and "cf" not in named
    for group in manifest["instance_groups"]:
        for job in group["jobs"]:
            assert job["release"] in named
            if job["name"] in COMPONENTS:
                assert job["release"] == job["name"]
    for name in named:
        assert yaml.safe_load((REPO / "releases" / name / "config/final.yml").read_text())["name"] == name
    assert not (REPO / "releases" / "cf").exists()


def test_cf_platform_is_importable_from_its_release_and_cf_py_runs():
    assert Path(cf_platform.__file__).resolve().is_relative_to(CF_PLATFORM / "src" / "cf_platform")
    ran = subprocess.run([str(VENV_BIN / "cf-py"), "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "cf-py" in ran.stdout


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_component_vendors_the_current_cf_platform(component, tmp_path):
    """Fails when cf_platform changed and was not vendored again: the deploy would run old code."""
    release = REPO / "releases" / component
    src = read_release_dir(release)
    assert sorted(src.packages) == COMPONENTS[component] and list(src.jobs) == [component]
    vendored = src.packages["cf-platform"]
    current = read_release_dir(CF_PLATFORM).packages["cf-platform"]
    assert vendored.vendored and not current.vendored
    assert vendored.fingerprint == current.fingerprint, \
        f"releases/{component} vendors an old cf-platform: run scripts/prepare-cf-blobs"
    assert final_build_archive(release, "packages", "cf-platform", vendored.fingerprint) is not None

    created = subprocess.run([str(VENV_BIN / "bosh-py"), "create-release", str(release), "--tarball",
                              str(tmp_path / "r.tgz")], check=False, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    manifest = open_release_tarball(tmp_path / "r.tgz", tmp_path / "unpacked")
    assert manifest.name == component
    package = next(p for p in manifest.packages if p.name == "cf-platform")
    assert package.fingerprint == current.fingerprint
    source_build = final_build_archive(CF_PLATFORM, "packages", "cf-platform", current.fingerprint)
    assert source_build is not None and package.sha1 == source_build[0].sha1


def test_the_cloud_controller_vendors_the_uaas_current_python3_cryptography():
    """The CC checks UAA tokens with the package releases/uaa builds; scripts/prepare-uaa-blobs
    vendors it again whenever the UAA's blobs change."""
    vendored = read_release_dir(REPO / "releases" / "cloud_controller").packages["python3-cryptography"]
    current = read_release_dir(REPO / "releases" / "uaa").packages["python3-cryptography"]
    assert vendored.vendored and not current.vendored
    assert vendored.fingerprint == current.fingerprint, \
        "releases/cloud_controller vendors an old python3-cryptography: run scripts/prepare-uaa-blobs"
