"""create_release: dev versions, reuse, determinism, the tarball's release.MF."""

from __future__ import annotations

import tarfile
import time

import pytest
import yaml

from bosh_py.release import ReleaseError, create_release, open_release_tarball, read_release_dir

from .conftest import write


def test_creates_dev_release_with_manifest(make_release):
    root = make_release()
    created = create_release(root)
    assert created.name == "demo" and created.version == "0+dev.1" and not created.reused_version
    assert created.tarball == root / "dev_releases/demo/demo-0+dev.1.tgz"
    assert created.sha256.startswith("sha256:")
    with tarfile.open(created.tarball) as tar:
        names = tar.getnames()
        mf = yaml.safe_load(tar.extractfile("release.MF").read())
    assert {"release.MF", "jobs/web.tgz", "packages/app.tgz", "packages/lib.tgz"} <= set(names)
    assert mf["name"] == "demo" and mf["version"] == "0+dev.1"
    src = read_release_dir(root)
    job = mf["jobs"][0]
    assert job["name"] == "web" and job["packages"] == ["app"]
    assert job["version"] == job["fingerprint"] == src.jobs["web"].fingerprint
    assert job["sha1"].startswith("sha256:")
    pkgs = {p["name"]: p for p in mf["packages"]}
    assert pkgs["app"]["dependencies"] == ["lib"] and pkgs["lib"]["dependencies"] == []
    index = yaml.safe_load((root / "dev_releases/demo/index.yml").read_text())
    assert list(index["builds"]) == ["0+dev.1"]


def test_same_content_same_version_and_bytes(make_release):
    root = make_release()
    first = create_release(root)
    data = first.tarball.read_bytes()
    second = create_release(root)
    assert second.version == "0+dev.1" and second.reused_version
    assert second.tarball.read_bytes() == data and second.sha256 == first.sha256


def test_change_gives_next_dev_version(make_release):
    root = make_release()
    assert create_release(root).version == "0+dev.1"
    write(root / "jobs/web/templates/web.conf.j2", "port={{ p('web.port') }}\nchanged\n")
    assert create_release(root).version == "0+dev.2"
    assert create_release(root).version == "0+dev.2"
    write(root / "jobs/web/templates/web.conf.j2", "port={{ p('web.port') }}\n")  # back to dev.1 content
    assert create_release(root).version == "0+dev.1"


def test_deterministic_across_directories(make_release, tmp_path):
    a = create_release(make_release(), tarball=tmp_path / "a.tgz")
    b = create_release(make_release(tmp_path / "other"), tarball=tmp_path / "b.tgz")
    assert a.sha256 == b.sha256


def test_explicit_version_and_conflict(make_release, tmp_path):
    root = make_release()
    created = create_release(root, tarball=tmp_path / "out.tgz", version="1.0")
    assert created.version == "1.0" and created.tarball == tmp_path / "out.tgz"
    assert create_release(root, version="1.0").reused_version
    write(root / "src/lib/a.txt", "different\n")
    with pytest.raises(ReleaseError, match=r"release version '1.0' already exists with different content"):
        create_release(root, version="1.0")
    assert create_release(root, version="1.0", force=True).version == "1.0"


def test_roundtrip_through_open(make_release, tmp_path):
    created = create_release(make_release())
    manifest = open_release_tarball(created.tarball, tmp_path / "x")
    assert manifest == created.manifest


def test_fast_with_a_15mb_blob(make_release):
    root = make_release()
    blob = root / "blobs/app/big.bin"
    blob.write_bytes(bytes(range(256)) * (15 * 4096) + __import__("os").urandom(1 << 20))
    start = time.perf_counter()
    created = create_release(root)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"create_release took {elapsed:.2f}s"
    start = time.perf_counter()
    assert create_release(root).version == created.version
    assert time.perf_counter() - start < 1.0


def test_git_commit_hash_and_uncommitted_changes(make_release, tmp_path):
    import subprocess
    root = make_release(tmp_path / "gitrel")
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    (root / ".gitignore").write_text("dev_releases/\n.dev_builds/\nblobs/\n")
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "init"], check=True)
    created = create_release(root)
    assert created.manifest.commit_hash and created.manifest.uncommitted_changes is False
    write(root / "src/lib/a.txt", "dirty\n")
    dirty = create_release(root)
    assert dirty.version == "0+dev.2" and dirty.manifest.uncommitted_changes is True
    with pytest.raises(ReleaseError, match="uncommitted changes"):
        create_release(root, version="2")
    assert create_release(root, version="2", force=True).version == "2"
