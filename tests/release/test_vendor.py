"""`bosh-py vendor-package`: a package of one release vendored into another, as BOSH does,
and create-release taking it from the final builds. Driven through the real CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from bosh_py.release import open_release_tarball, read_release_dir

from .conftest import VENV_BIN, write

FINAL_YML = "blobstore:\n  provider: local\n  options: {blobstore_path: .final_blobstore}\n"


def bosh_py(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "bosh-py"), *map(str, args)], check=False, capture_output=True, text=True,
                          timeout=120)


def with_blobstore(release: Path, name: str) -> Path:
    write(release / "config/final.yml", f"name: {name}\n{FINAL_YML}")
    return release


def consumer(tmp_path: Path) -> Path:
    """A release whose job uses the vendored ``app`` package."""
    rel = with_blobstore(tmp_path / "consumer", "consumer")
    write(rel / "jobs/svc/spec", "name: svc\ntemplates: {}\npackages: [app]\n")
    write(rel / "jobs/svc/monit", "processes: []\n")
    return rel


def lock(release: Path, package: str) -> dict:
    return yaml.safe_load((release / "packages" / package / "spec.lock").read_text())


def index(release: Path, package: str) -> dict:
    return yaml.safe_load((release / ".final_builds/packages" / package / "index.yml").read_text())["builds"]


def test_vendors_package_and_dependencies_and_create_release_uses_them(make_release, tmp_path):
    source = with_blobstore(make_release(), "demo")
    target = consumer(tmp_path)
    done = bosh_py("vendor-package", "app", source, "--dir", target)
    assert done.returncode == 0, done.stderr
    src = read_release_dir(source)
    for name in ("lib", "app"):  # app depends on lib: both vendored
        fp = src.packages[name].fingerprint
        assert f"{name}: vendored (fingerprint {fp})" in done.stdout
        assert lock(target, name)["fingerprint"] == fp
        assert sorted((target / "packages" / name).iterdir()) == [target / "packages" / name / "spec.lock"]
        src_build, dst_build = index(source, name)[fp], index(target, name)[fp]
        assert src_build["sha1"] == dst_build["sha1"]
        assert (target / ".final_blobstore" / dst_build["blobstore_id"]).read_bytes() == \
            (source / ".final_blobstore" / src_build["blobstore_id"]).read_bytes()
    assert lock(target, "app")["dependencies"] == ["lib"]

    created = bosh_py("create-release", target, "--tarball", tmp_path / "consumer.tgz")
    assert created.returncode == 0, created.stderr
    manifest = open_release_tarball(tmp_path / "consumer.tgz", tmp_path / "unpacked")  # checks every digest
    packages = {p.name: p for p in manifest.packages}
    assert packages["app"].fingerprint == src.packages["app"].fingerprint
    assert packages["app"].dependencies == ["lib"]
    assert packages["app"].sha1 == index(target, "app")[packages["app"].fingerprint]["sha1"]
    # The source release is not needed any more: the target builds from its own final builds.
    shutil.rmtree(source)
    again = bosh_py("create-release", target, "--tarball", tmp_path / "again.tgz")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.tgz").read_bytes() == (tmp_path / "consumer.tgz").read_bytes()


def test_revendoring_unchanged_copies_nothing_and_a_change_moves_the_lock(make_release, tmp_path):
    source = with_blobstore(make_release(), "demo")
    target = consumer(tmp_path)
    assert bosh_py("vendor-package", "app", source, "--dir", target).returncode == 0
    blobs = sorted((target / ".final_blobstore").iterdir())
    same = bosh_py("vendor-package", "app", source, "--dir", target)
    assert same.returncode == 0 and "app: up to date" in same.stdout
    assert sorted((target / ".final_blobstore").iterdir()) == blobs

    old = lock(target, "app")["fingerprint"]
    write(source / "blobs/app/app.bin", "a new binary\n", 0o755)
    assert bosh_py("vendor-package", "app", source, "--dir", target).returncode == 0
    new = lock(target, "app")["fingerprint"]
    assert new != old and new == read_release_dir(source).packages["app"].fingerprint
    assert set(index(target, "app")) == {old, new}
    assert bosh_py("create-release", target, "--tarball", tmp_path / "c.tgz").returncode == 0
    manifest = open_release_tarball(tmp_path / "c.tgz", tmp_path / "unpacked")
    assert {p.name: p.fingerprint for p in manifest.packages}["app"] == new


def test_vendoring_replaces_a_package_of_the_same_name(make_release, tmp_path):
    source = with_blobstore(make_release(), "demo")
    target = consumer(tmp_path)
    write(target / "packages/lib/spec", "name: lib\nfiles: []\n")
    write(target / "packages/lib/packaging", "true\n")
    assert bosh_py("vendor-package", "app", source, "--dir", target).returncode == 0  # brings lib
    assert [p.name for p in (target / "packages/lib").iterdir()] == ["spec.lock"]
    assert read_release_dir(target).packages["lib"].vendored


def test_create_release_refuses_a_lock_without_its_final_build(make_release, tmp_path):
    source = with_blobstore(make_release(), "demo")
    target = consumer(tmp_path)
    assert bosh_py("vendor-package", "app", source, "--dir", target).returncode == 0
    write(target / "packages/app/spec.lock", f"name: app\nfingerprint: {'ab' * 32}\ndependencies: [lib]\n")
    refused = bosh_py("create-release", target)
    assert refused.returncode == 1
    for expected in ("release 'consumer'", "package 'app' is vendored", "fingerprint abababababab",
                     f"bosh-py vendor-package app SOURCE_RELEASE_DIR --dir {target}"):
        assert expected in refused.stderr, refused.stderr
    assert not (target / "dev_releases").exists()  # nothing half-done

    # Re-vendoring fixes it; a missing blob is the same error, a swapped blob a digest error.
    assert bosh_py("vendor-package", "app", source, "--dir", target).returncode == 0
    build = index(target, "app")[lock(target, "app")["fingerprint"]]
    blob = target / ".final_blobstore" / build["blobstore_id"]
    blob.write_bytes(b"not the package")
    swapped = bosh_py("create-release", target)
    assert swapped.returncode == 1 and "does not match" in swapped.stderr and "package 'app'" in swapped.stderr
    blob.unlink()
    missing = bosh_py("create-release", target)
    assert missing.returncode == 1 and "package 'app' is vendored" in missing.stderr


def test_bad_input_is_named(make_release, tmp_path):
    source = with_blobstore(make_release(), "demo")
    target = consumer(tmp_path)
    unknown = bosh_py("vendor-package", "nope", source, "--dir", target)
    assert unknown.returncode == 1
    assert "release 'demo' has no package 'nope' (it has: app, lib)" in unknown.stderr

    write(target / "config/final.yml", "name: consumer\n")
    no_store = bosh_py("vendor-package", "app", source, "--dir", target)
    assert no_store.returncode == 1
    assert f"{target / 'config/final.yml'}: blobstore: final builds need a final-release blobstore" in no_store.stderr
    assert not (target / "packages").exists() and not (source / ".final_builds").exists()

    with_blobstore(target, "consumer")
    write(target / "packages/app/spec.lock", "name: other\nfingerprint: abc\n")
    bad_lock = bosh_py("create-release", target)
    assert bad_lock.returncode == 1
    assert "packages/app/spec.lock: name: 'other' does not match the directory name 'app'" in bad_lock.stderr


def test_an_index_cannot_point_outside_the_final_blobstore(make_release, tmp_path):
    source = with_blobstore(make_release(), "demo")
    target = consumer(tmp_path)
    assert bosh_py("vendor-package", "app", source, "--dir", target).returncode == 0
    fp = lock(target, "app")["fingerprint"]
    outside = tmp_path / "outside.tgz"
    outside.write_bytes(b"x")
    index_file = target / ".final_builds/packages/app/index.yml"
    data = yaml.safe_load(index_file.read_text())
    data["builds"][fp]["blobstore_id"] = "../../outside.tgz"
    index_file.write_text(yaml.safe_dump(data))
    refused = bosh_py("create-release", target)
    assert refused.returncode == 1
    assert "blob id '../../outside.tgz' is not a 32-hex-digit id" in refused.stderr
