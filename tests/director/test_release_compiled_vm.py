"""Release tooling with real VMs: a deployed release is "in use" (releases, delete-release,
delete-stemcell, clean-up leave it alone), and `export-release` gives a compiled release that
a fresh director deploys without compiling anything."""

from __future__ import annotations

import os
import re
import tarfile

import pytest
import yaml

from tests.director.live_director import one_group_manifest
from tests.director.release_support import create, kv_release
from tests.e2e.manifests import write
from tests.harness import LocalDirector, ensure_stemcell

pytestmark = [pytest.mark.vm, pytest.mark.slow]
DEPLOYMENT = "kvdep"


def output(result) -> str:  # type: ignore[no-untyped-def]
    return " ".join((result.stdout + result.stderr).split())


def started_director(root, stemcell) -> LocalDirector:  # type: ignore[no-untyped-def]
    local = LocalDirector(root)
    local.start()
    local.cli("upload-stemcell", str(stemcell))
    local.update_cloud_config()
    return local


@pytest.fixture(scope="module")
def stemcell():
    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    return ensure_stemcell()


@pytest.fixture(scope="module")
def first(tmp_path_factory, stemcell):
    """Director A with `kv` deployed (its package compiled on a compilation VM)."""
    root = tmp_path_factory.mktemp("release-a")
    local = LocalDirector(root / "director")
    try:
        local = started_director(root / "director", stemcell)
        release = with_unused_package(kv_release(root / "kv"))
        local.cli("upload-release", str(create(local, release, root / "kv.tgz")))
        result = local.cli("deploy", "-n", write(root, one_group_manifest(DEPLOYMENT, "kv", ["kv"])))
        assert "Compiling packages" in output(result)
        yield local
    finally:
        local.stop()


def with_unused_package(release):  # type: ignore[no-untyped-def]
    """Package ``extra`` (depending on ``data``), which no job uses: a deploy never compiles
    it, so export-release has to."""
    (release / "packages/extra").mkdir(parents=True)
    (release / "src/extra").mkdir(parents=True)
    (release / "src/extra/extra.txt").write_text("extra\n")
    (release / "packages/extra/spec").write_text("name: extra\ndependencies: [data]\nfiles:\n- extra/extra.txt\n")
    (release / "packages/extra/packaging").write_text(
        "cat /var/vcap/packages/data/data.txt extra/extra.txt > ${BOSH_INSTALL_TARGET}/both.txt\n")
    return release


def stemcell_os_version(director: LocalDirector) -> str:
    row = director.json("stemcells")[0]  # type: ignore[index]
    return f"{row['os']}/{row['version']}"


def test_a_deployed_release_and_stemcell_are_in_use(first):
    assert [(r["name"], r["version"], r["in_use"]) for r in first.json("releases")] == [("kv", "0+dev.1", True)]
    assert "0+dev.1*" in first.cli("releases").stdout
    refused = first.cli("delete-release", "kv/0+dev.1", "-n", check=False)
    assert refused.returncode == 1
    assert f"Release 'kv/0+dev.1' is used by deployment(s) {DEPLOYMENT}" in output(refused)
    refused = first.cli("delete-release", "kv", "-n", check=False)
    assert refused.returncode == 1 and DEPLOYMENT in output(refused)
    stemcell = first.json("stemcells")[0]
    assert stemcell["in_use"] and f"{stemcell['version']}*" in first.cli("stemcells").stdout
    refused = first.cli("delete-stemcell", f"{stemcell['name']}/{stemcell['version']}", "-n", check=False)
    assert refused.returncode == 1 and f"used by deployment(s) {DEPLOYMENT}" in output(refused)
    first.cli("clean-up", "--all", "-n")
    assert len(first.json("releases")) == 1 and len(first.json("stemcells")) == 1
    shown = first.json("inspect-release", "kv/0+dev.1")
    assert shown["packages"][0]["compiled_for"] == [stemcell_os_version(first)]


def test_an_exported_release_deploys_on_a_fresh_director_without_compiling(first, stemcell, tmp_path):
    on = stemcell_os_version(first)
    exporting = first.cli("export-release", "kv/0+dev.1", on, "-d", DEPLOYMENT, "--dir", str(tmp_path))
    assert "Compiling packages: extra/" in output(exporting) and "Compiling packages: data/" not in output(exporting)
    [exported] = list(tmp_path.glob("kv-0+dev.1-*.tgz"))
    with tarfile.open(exported) as tar:
        names = set(tar.getnames())
        member = tar.extractfile("release.MF")
        assert member is not None
        manifest = yaml.safe_load(member.read())
    assert {"jobs/kv.tgz", "compiled_packages/data.tgz", "compiled_packages/extra.tgz"} <= names
    assert not any(n.startswith("packages/") for n in names)
    assert [(c["name"], c["stemcell"], c["dependencies"]) for c in manifest["compiled_packages"]] == \
        [("data", on, []), ("extra", on, ["data"])]
    assert "packages" not in manifest
    first.stop()  # one director at a time on this run's subnet

    second = LocalDirector(tmp_path / "b")
    try:
        second = started_director(tmp_path / "b", stemcell)
        second.cli("upload-release", str(exported))
        assert [p["compiled_for"] for p in second.json("inspect-release", "kv/0+dev.1")["packages"]] == [[on], [on]]
        result = second.cli("deploy", "-n", write(tmp_path, one_group_manifest(DEPLOYMENT, "kv", ["kv"])))
        assert "Compiling packages" not in output(result)
        task_id = re.findall(r"Task (\d+)", result.stdout)[0]
        debug = second.cli("task", task_id, "--debug").stdout
        assert "compile_package" not in debug and "compilation" not in debug.lower()
        [instance] = second.json("instances", "-d", DEPLOYMENT)
        assert instance["process_state"] == "running", instance
        again = second.cli("upload-release", str(exported))
        assert "already exists" in output(again)
    finally:
        second.stop()
