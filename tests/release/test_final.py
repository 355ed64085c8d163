"""`bosh-py create-release --final`: integer versions, .final_builds, the local final-release
blobstore, the dirty-tree and existing-version refusals. Driven through the real CLI, in a
real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from bosh_py.release import open_release_tarball, read_release_dir

from .conftest import VENV_BIN, write

FINAL_YML = "name: demo\nblobstore:\n  provider: local\n  options: {blobstore_path: .final_blobstore}\n"


def bosh_py(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "bosh-py"), *map(str, args)], check=False, capture_output=True,
                          text=True, timeout=120)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True, timeout=30)


def committed_release(make_release) -> Path:
    root = make_release()
    write(root / "config/final.yml", FINAL_YML)
    write(root / ".gitignore", ".final_blobstore/\n.dev_builds/\ndev_releases/\nblobs/\nreleases/*/*.tgz\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "demo")
    return root


def version_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return next(line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("Release version"))


def test_final_release_records_builds_and_blobs(make_release, tmp_path):
    root = committed_release(make_release)
    assert version_of(bosh_py("create-release", root, "--final")) == "1"
    src = read_release_dir(root)
    manifest_path = root / "releases/demo/demo-1.yml"
    manifest = yaml.safe_load(manifest_path.read_text())
    assert manifest["version"] == "1" and manifest["uncommitted_changes"] is False
    index = yaml.safe_load((root / "releases/demo/index.yml").read_text())
    assert [b["version"] for b in index["builds"].values()] == ["1"]
    for kind, sources in (("jobs", src.jobs), ("packages", src.packages)):
        for name, source in sources.items():
            builds = yaml.safe_load((root / ".final_builds" / kind / name / "index.yml").read_text())["builds"]
            build = builds[source.fingerprint]
            ref = next(r for r in manifest[kind] if r["name"] == name)
            assert build["sha1"] == ref["sha1"]
            assert (root / ".final_blobstore" / build["blobstore_id"]).is_file()
    tarball = root / "releases/demo/demo-1.tgz"
    assert open_release_tarball(tarball, tmp_path / "unpacked").version == "1"  # digests checked

    # As with BOSH, the release author commits the new manifest, index and .final_builds.
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "final 1")
    # Nothing changed: version 2 reuses every final build (no new blob).
    blobs = sorted((root / ".final_blobstore").iterdir())
    assert version_of(bosh_py("create-release", root, "--final")) == "2"
    assert sorted((root / ".final_blobstore").iterdir()) == blobs
    # A changed job gets one new blob; dev releases keep working beside final ones.
    write(root / "jobs/web/templates/web.conf.j2", "port={{ p('web.port') }}\nnew\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "final 2, change")
    assert version_of(bosh_py("create-release", root, "--final")) == "3"
    assert len(list((root / ".final_blobstore").iterdir())) == len(blobs) + 1
    assert version_of(bosh_py("create-release", root)) == "0+dev.1"


def test_dirty_tree_refused_unless_force(make_release):
    root = committed_release(make_release)
    write(root / "jobs/web/templates/web.conf.j2", "port={{ p('web.port') }}\nuncommitted\n")
    refused = bosh_py("create-release", root, "--final")
    assert refused.returncode == 1
    assert "has uncommitted changes" in refused.stderr and "final release 'demo/1'" in refused.stderr
    assert not (root / "releases").exists() and not (root / ".final_builds").exists()
    assert version_of(bosh_py("create-release", root, "--final", "--force")) == "1"
    manifest = yaml.safe_load((root / "releases/demo/demo-1.yml").read_text())
    assert manifest["uncommitted_changes"] is True


def test_explicit_version_and_existing_version_refused(make_release):
    root = committed_release(make_release)
    assert version_of(bosh_py("create-release", root, "--final", "--version", "5")) == "5"
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "final 5")
    again = bosh_py("create-release", root, "--final", "--version", "5")
    assert again.returncode == 1
    assert "release 'demo' version '5' already exists" in again.stderr and "demo-5.yml" in again.stderr
    forced = bosh_py("create-release", root, "--final", "--version", "5", "--force")
    assert forced.returncode == 1 and "already exists" in forced.stderr
    assert version_of(bosh_py("create-release", root, "--final")) == "6"
    bad = bosh_py("create-release", root, "--final", "--version", "../7")
    assert bad.returncode == 1 and "--version: '../7' is not a release version" in bad.stderr


def test_final_needs_a_final_blobstore(make_release):
    root = committed_release(make_release)
    write(root / "config/final.yml", "name: demo\nblobstore: {provider: s3, options: {}}\n")
    git(root, "commit", "-q", "-am", "s3")
    refused = bosh_py("create-release", root, "--final")
    assert refused.returncode == 1
    assert f"{root / 'config/final.yml'}: blobstore/provider: 's3' is not supported" in refused.stderr
    assert not (root / "releases").exists()
