"""Bad input and faults against a real director: each gives a clear message, exit code 1,
and leaves nothing half-done (no VM, no lock, no recorded release)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.manifests import web_manifest, write
from tests.harness import REPO, TEST_SUBNET


@pytest.fixture(scope="module")
def uploaded(director, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    shutil.copytree(REPO / "tests/fixtures/releases/testrel", tmp / "testrel")
    director.cli("upload-release", str(tmp / "testrel"))
    return tmp


def fails(director, *args, expect: str):
    result = director.cli(*args, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expect in result.stderr + result.stdout, result.stdout + result.stderr
    return result


def vm_count(director) -> int:
    return len(json.loads(director.cpi("list", "--json").stdout)["vms"])


def test_malformed_yaml(director, uploaded):
    path = uploaded / "broken.yml"
    path.write_text("name: web\ninstance_groups: [\n")
    fails(director, "deploy", "-n", str(path), expect=f"{path}: line")


def test_unknown_key(director, uploaded):
    manifest = web_manifest()
    manifest["instance_groups"][0]["instancez"] = 3
    fails(director, "deploy", "-n", write(uploaded, manifest), expect="instance_groups/web")


def test_missing_release(director, uploaded):
    manifest = web_manifest()
    manifest["releases"] = [{"name": "nope", "version": "latest"}]
    manifest["instance_groups"][0]["jobs"][0]["release"] = "nope"
    fails(director, "deploy", "-n", write(uploaded, manifest), expect="release 'nope' has not been uploaded")
    assert director.json("locks") == []


def test_missing_stemcell(director, uploaded):
    manifest = web_manifest()
    manifest["stemcells"][0]["os"] = "ubuntu-noble"
    fails(director, "deploy", "-n", write(uploaded, manifest), expect="no uploaded stemcell matches ubuntu-noble")


def test_missing_job(director, uploaded):
    manifest = web_manifest()
    manifest["instance_groups"][0]["jobs"][0]["name"] = "nojob"
    fails(director, "deploy", "-n", write(uploaded, manifest),
          expect="instance_groups/web/jobs/0/name: job 'nojob' is not in release 'testrel'")


def test_property_of_wrong_type(director, uploaded):
    manifest = web_manifest()
    manifest["instance_groups"][0]["jobs"][0]["properties"]["web"]["port"] = "eighty"
    fails(director, "deploy", "-n", write(uploaded, manifest),
          expect="instance_groups/web/jobs/0/properties/web.port")
    assert vm_count(director) == 0


def test_ops_file_path_missing(director, uploaded):
    ops = uploaded / "ops.yml"
    ops.write_text(yaml.safe_dump([{"type": "replace", "path": "/instance_groups/name=nope/instances", "value": 1}]))
    fails(director, "interpolate", write(uploaded, web_manifest()), "-o", str(ops), expect=str(ops))


def test_corrupt_release_tarball_is_rejected(director, uploaded, tmp_path):
    result = director.cli("create-release", str(uploaded / "testrel"), "--tarball", str(tmp_path / "r.tgz"))
    assert "Release version" in result.stdout
    tampered = tmp_path / "tampered.tgz"
    with tarfile.open(tmp_path / "r.tgz") as source, tarfile.open(tampered, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("jobs/web.tgz"):
                data = data[:-8] + b"tampered"
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    before = director.json("releases")
    fails(director, "upload-release", str(tampered), expect="web")
    assert director.json("releases") == before


def escape_cases(director, token: str) -> list[tuple[list[tarfile.TarInfo], str, Path]]:
    """(members, what the error names, where an unchecked extraction would write). The
    director extracts an upload into a fresh directory two levels below its data dir
    (``<data_dir>/tmp/<mkdtemp>``), so ``../..`` lands in the data dir itself."""
    def file(name: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size = 1
        return info

    def link(name: str, target: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        return info

    deep = "../" * 40  # enough '..' to reach / from any extraction directory
    return [
        ([file(f"../../escaped-{token}")], "'..' path component", director.data_dir / f"escaped-{token}"),
        ([file(f"{deep}tmp/bosh-py-escaped-{token}")], "'..' path component", Path(f"/tmp/bosh-py-escaped-{token}")),
        ([file(f"/tmp/bosh-py-escaped-abs-{token}")], "absolute path", Path(f"/tmp/bosh-py-escaped-abs-{token}")),
        ([link("up", "../.."), file(f"up/escaped-link-{token}")], "points outside the archive",
         director.data_dir / f"escaped-link-{token}"),
    ]


@pytest.mark.parametrize("case", range(4), ids=["dotdot", "dotdot-to-root", "absolute", "symlink"])
def test_release_tarball_with_path_escape_is_rejected(director, tmp_path, case):
    members, named, landing = escape_cases(director, uuid.uuid4().hex[:8])[case]
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as out:
        manifest = yaml.safe_dump({"name": "evil", "version": "1", "jobs": [], "packages": []}).encode()
        info = tarfile.TarInfo("release.MF")
        info.size = len(manifest)
        out.addfile(info, io.BytesIO(manifest))
        for member in members:
            out.addfile(member, io.BytesIO(b"x") if member.isfile() else None)
    before = director.json("releases")
    try:
        result = director.cli("upload-release", str(evil), check=False)
        assert not landing.exists() and not landing.is_symlink(), f"{landing} was written"
        assert result.returncode == 1, result.stdout + result.stderr
        assert "unsafe tarball" in result.stdout + result.stderr and named in result.stdout + result.stderr
        assert director.json("releases") == before
    finally:
        landing.unlink(missing_ok=True)


def test_failing_packaging_script_shows_its_output(director, uploaded):
    shutil.copytree(REPO / "tests/fixtures/releases/brokenrel", uploaded / "brokenrel")
    director.cli("upload-release", str(uploaded / "brokenrel"))
    manifest = web_manifest("broken", instances=1, disk=False)
    manifest["releases"] = [{"name": "brokenrel", "version": "latest"}]
    manifest["instance_groups"][0]["jobs"] = [{"name": "user", "release": "brokenrel"}]
    result = fails(director, "deploy", "-n", write(uploaded, manifest),
                   expect="broken.c:1: error: expected declaration")
    assert "compiling broken.c" in result.stdout + result.stderr
    assert vm_count(director) == 0, "compilation VMs are deleted after a failure"
    assert director.json("locks") == []


def test_job_that_never_starts_fails_the_canary_only(director, uploaded):
    manifest = web_manifest("crashy", instances=3, disk=False)
    director.cli("deploy", "-n", write(uploaded, manifest))
    before = {r["id"]: r["vm_cid"] for r in director.json("instances", "-d", "crashy")}
    manifest["instance_groups"][0]["jobs"].append({"name": "crasher", "release": "testrel"})
    result = fails(director, "deploy", "-n", write(uploaded, manifest), expect="is not running after update")
    assert "crasher" in result.stdout + result.stderr
    rows = director.json("instances", "-d", "crashy")
    assert sorted(r["process_state"] for r in rows) == ["failing", "running", "running"]
    assert {r["id"]: r["vm_cid"] for r in rows} == before
    assert director.json("locks") == []
    director.cli("delete-deployment", "-d", "crashy", "-n")


def test_vm_that_fails_to_come_up_leaves_no_orphan(director, uploaded):
    """A VM whose processes cannot fork (pids.max 3) never gets sshd and an agent up."""
    manifest = web_manifest("novm", instances=1, disk=False)
    cloud = director.cli("cloud-config").stdout
    bad = yaml.safe_load(cloud)
    bad["vm_types"].append({"name": "broken", "cloud_properties": {"pids": 3}})
    path = uploaded / "cc.yml"
    path.write_text(yaml.safe_dump(bad))
    director.cli("update-cloud-config", str(path))
    manifest["instance_groups"][0]["vm_type"] = "broken"
    try:
        fails(director, "deploy", "-n", write(uploaded, manifest), expect=f"Cannot SSH to {TEST_SUBNET}.")
        assert vm_count(director) == 0
        assert director.json("instances", "-d", "novm")[0]["vm_cid"] is None
    finally:
        director.update_cloud_config()
        director.cli("delete-deployment", "-d", "novm", "-n", check=False)


def test_second_deploy_while_one_runs_gets_lock_error(director, uploaded):
    manifest = web_manifest("locky", instances=2, disk=False)
    path = write(uploaded, manifest, "locky.yml")
    first = threading.Thread(target=director.cli, args=("deploy", "-n", path))
    first.start()
    try:
        deadline = time.monotonic() + 30
        while not director.json("locks") and time.monotonic() < deadline:
            time.sleep(0.1)
        fails(director, "deploy", "-n", path, expect="held by task")
    finally:
        first.join()
    director.cli("delete-deployment", "-d", "locky", "-n")


def test_api_requires_credentials(director):
    config = json.loads((director.root / "cli.json").read_text())
    assert httpx.get(f"{config['url']}/info").status_code == 200
    assert httpx.get(f"{config['url']}/deployments").status_code == 401
    assert httpx.get(f"{config['url']}/deployments", auth=("admin", "wrong")).status_code == 401
    assert httpx.get(f"{config['url']}/deployments", auth=("admin", config["password"])).status_code == 200
    assert (director.root / "cli.json").stat().st_mode & 0o077 == 0, "the CLI config holding the password is 0600"
    assert config["password"] not in director.cli("director", "start", "--data-dir", str(director.data_dir)).stdout
