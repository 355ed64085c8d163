"""Review fixes that only a real deployment can show: recreate uses the cloud-config the
deployment was deployed with, a persistent disk resize is refused clearly, and an update
whose job fails to start leaves no rendered-templates blob that nothing references."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
import yaml

from tests.e2e.manifests import web_manifest, write
from tests.harness import E2E_CLOUD_CONFIG, REPO

NAME = "review"


def manifest(**changes: object) -> dict:
    doc = web_manifest(NAME, instances=1, max_in_flight=1)
    doc["update"].update(canary_watch_time="500-5000", update_watch_time="500-5000")
    doc["instance_groups"][0].update(changes)
    return doc


@pytest.fixture(scope="module")
def deployed(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review")
    shutil.copytree(REPO / "tests/fixtures/releases/testrel", tmp / "testrel")
    director.cli("upload-release", str(tmp / "testrel"))
    director.cli("deploy", "-n", write(tmp, manifest()))
    try:
        yield tmp
    finally:
        director.cli("delete-deployment", "-d", NAME, "-n", check=False)


def cpi_state(director, kind: str) -> list[dict]:
    """The local CPI's own record of its VMs or disks (what it was asked to make)."""
    root = director.root / "cpi" / kind
    return [json.loads(path.read_text()) for path in sorted(root.glob("*/state.json"))]


def running(director) -> bool:
    return [i["process_state"] for i in director.json("instances", "-d", NAME)] == ["running"]


def test_recreate_uses_the_deployed_cloud_config_not_a_newer_one(director, deployed):
    newer = yaml.safe_load(E2E_CLOUD_CONFIG.read_text())
    next(t for t in newer["vm_types"] if t["name"] == "default")["cloud_properties"] = {"pids": 4096}
    path = deployed / "newer-cloud-config.yml"
    path.write_text(yaml.safe_dump(newer))
    (old_vm,) = cpi_state(director, "vms")
    try:
        director.update_cloud_config(path)
        director.cli("recreate", "-d", NAME, "-n", "web/0")
        (new_vm,) = cpi_state(director, "vms")
        assert new_vm["cid"] != old_vm["cid"]
        assert new_vm["cloud_properties"] == old_vm["cloud_properties"] == {}
        assert running(director)
    finally:
        director.update_cloud_config()


def test_a_persistent_disk_resize_is_refused_and_the_disk_kept(director, deployed):
    (disk,) = cpi_state(director, "disks")
    result = director.cli("deploy", "-n", write(deployed, manifest(persistent_disk_type="default")), check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "instance_groups/web: changing the persistent disk size (64 MB -> 1024 MB) is not supported" in output
    assert cpi_state(director, "disks") == [disk]
    assert running(director)  # refused while planning: the instance was never stopped


def unreferenced_blobs(director) -> set[str]:
    """Blobs in the director's blobstore that no release, cache entry or instance names."""
    on_disk = {path.name for path in (director.data_dir / "blobstore").glob("*/*") if len(path.name) == 32}
    with sqlite3.connect(director.data_dir / "director.db") as db:
        named = {row[0] for table in ("packages", "templates", "compiled_packages")
                 for row in db.execute(f"SELECT blobstore_id FROM {table}")}  # noqa: S608 - fixed names
        for (spec,) in db.execute("SELECT applied_spec FROM instances"):
            archive = (json.loads(spec) or {}).get("rendered_templates_archive") or {}
            named.add(archive.get("blobstore_id"))
    return on_disk - named


def test_an_update_whose_job_fails_to_start_leaves_no_unreferenced_blob(director, deployed):
    assert unreferenced_blobs(director) == set()
    broken = manifest()
    broken["instance_groups"][0]["jobs"].append({"name": "crasher", "release": "testrel"})
    result = director.cli("deploy", "-n", write(deployed, broken), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "is not running after update" in result.stdout + result.stderr
    assert unreferenced_blobs(director) == set()
    director.cli("deploy", "-n", write(deployed, manifest()))
    assert unreferenced_blobs(director) == set()


def test_an_apply_the_agent_refuses_leaves_no_unreferenced_blob(director, deployed):
    """The agent fails apply (its jobs directory was replaced by a file on the VM): the
    rendered archive uploaded for that apply is recorded nowhere and must go again."""
    assert unreferenced_blobs(director) == set()
    director.cli("ssh", "-d", NAME, "web/0", "-c",
                 "mv /var/vcap/data/jobs /var/vcap/data/jobs.saved && touch /var/vcap/data/jobs")
    try:
        result = director.cli("deploy", "-n", write(deployed, manifest(jobs=[
            {"name": "web", "release": "testrel", "properties": {"web": {"message": "changed", "port": 8080}}}])),
            check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "File exists" in result.stdout + result.stderr
        assert unreferenced_blobs(director) == set()
    finally:
        director.cli("ssh", "-d", NAME, "web/0", "-c",
                     "rm -f /var/vcap/data/jobs && mv /var/vcap/data/jobs.saved /var/vcap/data/jobs", check=False)
