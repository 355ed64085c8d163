"""upload-release, inspect-release, delete-release and clean-up against a real director (no
VMs), through the bosh-py CLI as an operator runs them.

The reproduced bug first: a release directory copied elsewhere and changed was built again
as ``kv/0+dev.1``; uploading it answered "already exists" and kept the old content, so the
next deploy ran code the operator had not uploaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from tests.director.live_director import api
from tests.director.release_support import (
    blob_files,
    compiled_from,
    create,
    kv_release,
    release_mf,
    serve_directory,
    sha1_of,
)
from tests.harness import LocalDirector

MAX_REMOTE = 64 * 1024  # the director's remote_release_max_bytes in this module


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    local = LocalDirector(tmp_path_factory.mktemp("bosh-py-releases"))
    local.data_dir.mkdir(parents=True)
    (local.data_dir / "director.json").write_text(json.dumps(
        {"data_dir": str(local.data_dir), "remote_release_max_bytes": MAX_REMOTE}))
    try:
        local.start()
        yield local
    finally:
        local.stop()


def output(result) -> str:  # type: ignore[no-untyped-def]
    return " ".join((result.stdout + result.stderr).split())  # rich may wrap long lines


def versions(director: LocalDirector, name: str) -> list[str]:
    return [r["version"] for r in director.json("releases") if r["name"] == name]


def inspect(director: LocalDirector, name_version: str) -> dict:
    return json.loads(director.cli("inspect-release", name_version, "--json").stdout)


def test_a_changed_release_with_a_stored_version_is_refused_naming_what_differs(director, tmp_path):
    original = create(director, kv_release(tmp_path / "kv"), tmp_path / "kv-1.tgz")
    director.cli("upload-release", str(original))
    copy = tmp_path / "elsewhere" / "kv"
    shutil.copytree(tmp_path / "kv", copy)
    (copy / "jobs/kv/templates/kv.conf").write_text("port={{ p('port') }}\nchanged=true\n")
    changed = create(director, copy, tmp_path / "kv-changed.tgz")
    old_job = {j["name"]: j["fingerprint"] for j in release_mf(original)["jobs"]}["kv"]
    new_job = {j["name"]: j["fingerprint"] for j in release_mf(changed)["jobs"]}["kv"]
    assert old_job != new_job

    result = director.cli("upload-release", str(changed), check=False)

    assert result.returncode == 1, output(result)
    text = output(result)
    assert "Release 'kv/0+dev.1' already exists with other content" in text
    assert f"job kv: stored fingerprint {old_job}, uploaded {new_job}" in text
    assert "package data" not in text  # unchanged, so not listed
    assert inspect(director, "kv/0+dev.1")["jobs"][0]["fingerprint"] == old_job  # the old content stays


def test_the_same_content_again_already_exists_and_succeeds(director, tmp_path):
    tarball = create(director, kv_release(tmp_path / "kv"), tmp_path / "kv.tgz")
    before = blob_files(director)
    result = director.cli("upload-release", str(tarball))
    assert "Release 'kv/0+dev.1' already exists" in output(result)
    assert blob_files(director) == before


def test_fix_replaces_jobs_and_packages_and_drops_compiled_packages_of_replaced_ones(director, tmp_path):
    source = create(director, kv_release(tmp_path / "fixme", name="fixme"), tmp_path / "fixme.tgz")
    director.cli("upload-release", str(source))
    director.cli("upload-release", str(compiled_from(source, tmp_path / "fixme-compiled.tgz", "debian-bookworm/1")))
    shown = inspect(director, "fixme/0+dev.1")
    assert shown["packages"][0]["compiled_for"] == ["debian-bookworm/1"]
    old_blobs = {shown["jobs"][0]["blobstore_id"]}
    kv_release(tmp_path / "fixme", data="new data\n", name="fixme")
    (tmp_path / "fixme/jobs/kv/templates/kv.conf").write_text("fixed={{ p('port') }}\n")
    fixed = create(director, tmp_path / "fixme", tmp_path / "fixme-fixed.tgz")
    refused = director.cli("upload-release", str(fixed), check=False)
    assert refused.returncode == 1 and "package data: stored fingerprint" in output(refused)

    director.cli("upload-release", str(fixed), "--fix")

    shown = inspect(director, "fixme/0+dev.1")
    wanted = {p["name"]: p["fingerprint"] for p in release_mf(fixed)["packages"]}
    assert {p["name"]: p["fingerprint"] for p in shown["packages"]} == wanted
    assert shown["packages"][0]["compiled_for"] == []  # compiled from the old source: dropped
    assert shown["jobs"][0]["fingerprint"] == release_mf(fixed)["jobs"][0]["fingerprint"]
    assert not old_blobs & blob_files(director)  # the replaced job's blob is gone
    again = director.cli("upload-release", str(fixed))
    assert "already exists" in output(again)


def test_a_compiled_release_then_its_source_release_holds_both(director, tmp_path):
    source = create(director, kv_release(tmp_path / "both", data="both\n", name="both"), tmp_path / "both.tgz")
    compiled = compiled_from(source, tmp_path / "both-compiled.tgz", "debian-bookworm/7")
    director.cli("upload-release", str(compiled))
    package = inspect(director, "both/0+dev.1")["packages"][0]
    assert (package["source"], package["compiled_for"]) == (False, ["debian-bookworm/7"])

    director.cli("upload-release", str(source))

    package = inspect(director, "both/0+dev.1")["packages"][0]
    assert (package["source"], package["compiled_for"]) == (True, ["debian-bookworm/7"])
    assert package["sha1"] == release_mf(source)["packages"][0]["sha1"]
    assert "already exists" in output(director.cli("upload-release", str(source)))
    assert "already exists" in output(director.cli("upload-release", str(compiled)))


def test_fix_of_identical_content_replaces_the_blobs(director, tmp_path):
    tarball = create(director, kv_release(tmp_path / "same", name="same"), tmp_path / "same.tgz")
    director.cli("upload-release", str(tarball))
    before = inspect(director, "same/0+dev.1")["jobs"][0]["blobstore_id"]
    director.cli("upload-release", str(tarball), "--fix")
    after = inspect(director, "same/0+dev.1")["jobs"][0]
    assert after["blobstore_id"] != before and before not in blob_files(director)
    assert after["fingerprint"] == release_mf(tarball)["jobs"][0]["fingerprint"]


def test_upload_from_a_url_checks_the_digest_before_storing_anything(director, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    tarball = create(director, kv_release(tmp_path / "remote", name="remote"), served / "remote.tgz")
    with serve_directory(served) as server:
        url = f"{server.url}/remote.tgz"
        before = blob_files(director)
        wrong = director.cli("upload-release", url, "--sha1", "0" * 40, check=False)
        assert wrong.returncode == 1
        assert f"expected {'0' * 40}, got {sha1_of(tarball)}" in output(wrong)
        assert versions(director, "remote") == [] and blob_files(director) == before

        director.cli("upload-release", url, "--sha1", sha1_of(tarball))
        assert versions(director, "remote") == ["0+dev.1"]

        fetched = len(server.requests)
        again = director.cli("upload-release", url, "--name", "remote", "--version", "0+dev.1")
        assert "already exists" in output(again) and len(server.requests) == fetched  # not downloaded

        (served / "big.tgz").write_bytes(os.urandom(MAX_REMOTE + 1))
        big = director.cli("upload-release", f"{server.url}/big.tgz", check=False)
        assert big.returncode == 1 and f"limit of {MAX_REMOTE}" in output(big)
        missing = director.cli("upload-release", f"{server.url}/nothing.tgz", check=False)
        assert missing.returncode == 1 and "the server answered 404" in output(missing)
    assert not list((director.data_dir / "tmp").iterdir())  # no download left behind


def test_url_credentials_never_reach_the_task_log(director, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    create(director, kv_release(tmp_path / "cred", name="cred"), served / "cred.tgz")
    with serve_directory(served) as server:
        secret_url = server.url.replace("http://", "http://operator:s3cr3t-token@") + "/cred.tgz?sig=s3cr3t-sig"
        result = director.cli("upload-release", secret_url)
    task_id = re.search(r"Task (\d+)", result.stdout).group(1)  # type: ignore[union-attr]
    debug = director.cli("task", str(task_id), "--debug").stdout
    assert "s3cr3t" not in output(result) + debug
    assert "/cred.tgz" in debug


def test_bad_locations_and_digests_are_refused_by_the_api(director):
    with api(director) as http:
        response = http.post("/releases", json={"location": "file:///etc/passwd"})
        assert response.status_code == 400 and "expected an http(s) URL" in response.text
        response = http.post("/releases", json={"location": "http://127.0.0.1:1/x.tgz", "sha1": "abc"})
        assert response.status_code == 400 and "sha1: expected 40 hex digits" in response.text
        response = http.post("/releases", json={"location": "http://127.0.0.1:1/x.tgz", "name": "x"})
        assert response.status_code == 400 and "give both" in response.text
        assert http.get("/releases/nope/1").status_code == 404


def test_only_exported_releases_can_be_fetched_and_only_by_the_operator(director, tmp_path):
    tarball = create(director, kv_release(tmp_path / "ex", name="ex"), tmp_path / "ex.tgz")
    director.cli("upload-release", str(tarball))
    job_blob = inspect(director, "ex/0+dev.1")["jobs"][0]["blobstore_id"]
    with api(director) as http:
        for blob_id in (job_blob, "0" * 32, "../../director.db"):
            assert http.get(f"/releases/exports/{blob_id}").status_code == 404
            assert http.delete(f"/releases/exports/{blob_id}").status_code == 404
    assert job_blob in blob_files(director)
    with api(director, authenticated=False) as http:
        assert http.get("/releases").status_code == 401
        assert http.post("/releases", json={"location": "http://127.0.0.1:1/x.tgz"}).status_code == 401
        assert http.post("/cleanup", json={"all": True}).status_code == 401
        assert http.delete("/releases/ex").status_code == 401
    assert versions(director, "ex") == ["0+dev.1"]


def test_delete_release_removes_the_version_and_blobs_only_it_used(director, tmp_path):
    first = create(director, kv_release(tmp_path / "del", name="del"), tmp_path / "del-1.tgz", "1")
    director.cli("upload-release", str(first))
    (tmp_path / "del/jobs/kv/templates/kv.conf").write_text("v2={{ p('port') }}\n")
    second = create(director, tmp_path / "del", tmp_path / "del-2.tgz", "2")
    director.cli("upload-release", str(second))
    one, two = inspect(director, "del/1"), inspect(director, "del/2")
    shared = one["packages"][0]["fingerprint"] == two["packages"][0]["fingerprint"]
    assert shared  # same package in both versions: stored once

    director.cli("delete-release", "del/1", "-n")

    assert versions(director, "del") == ["2"]
    blobs = blob_files(director)
    assert one["jobs"][0]["blobstore_id"] not in blobs and two["jobs"][0]["blobstore_id"] in blobs
    assert inspect(director, "del/2")["packages"][0]["source"]  # the shared package is still there
    missing = director.cli("delete-release", "del/1", "-n", check=False)
    assert missing.returncode == 1 and "Release 'del/1' not found" in output(missing)
    director.cli("delete-release", "del", "-n")
    assert versions(director, "del") == [] and two["jobs"][0]["blobstore_id"] not in blob_files(director)


def test_clean_up_keeps_the_newest_two_versions_and_removes_dangling_blobs(director, tmp_path):
    for n in range(1, 5):
        (tmp_path / "cu").mkdir(exist_ok=True)
        kv_release(tmp_path / "cu", template=f"v{n}={{{{ p('port') }}}}\n", name="cu")
        director.cli("upload-release", str(create(director, tmp_path / "cu", tmp_path / f"cu-{n}.tgz", str(n))))
    store = director.data_dir / "blobstore"
    old, fresh = store / "ab" / ("ab" + "1" * 30), store / "ab" / ("ab" + "2" * 30)
    old.parent.mkdir(exist_ok=True)
    old.write_bytes(b"left by a crash")
    fresh.write_bytes(b"an upload in flight")
    os.utime(old, (time.time() - 7200, time.time() - 7200))

    result = director.cli("clean-up", "-n")

    assert versions(director, "cu") == ["3", "4"]
    assert "cu/1" in output(result) and "cu/2" in output(result)
    assert not old.exists() and fresh.exists()
    director.cli("clean-up", "--all", "-n")
    assert versions(director, "cu") == []
    fresh.unlink()


def test_a_release_being_changed_by_another_task_is_not_changed_at_the_same_time(director, tmp_path):
    """Two uploads (or an upload and a delete) of one release at once: the second is refused
    naming the task that holds the release's lock, rather than failing on a unique key."""
    engine = create_engine(f"sqlite:///{director.data_dir / 'director.db'}")
    with engine.begin() as connection:  # a live task holding release:lk, as a running upload does
        connection.execute(text("INSERT INTO locks (name, task_id, expires_at) VALUES ('release:lk', 999, :t)"),
                           {"t": datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)})
    try:
        tarball = create(director, kv_release(tmp_path / "lk", name="lk"), tmp_path / "lk.tgz")
        result = director.cli("upload-release", str(tarball), check=False)
        assert result.returncode == 1
        assert "Failed to acquire lock for release:lk: it is held by task 999" in output(result)
        assert versions(director, "lk") == []
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM locks WHERE name = 'release:lk'"))
        engine.dispose()
    director.cli("upload-release", str(tarball))
    assert versions(director, "lk") == ["0+dev.1"]
