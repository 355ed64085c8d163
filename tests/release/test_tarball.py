"""Opening untrusted release tarballs: digests checked, nothing escapes, nothing left behind."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from bosh_py.release import ReleaseError, create_release, open_release_tarball, read_job_archive


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _write_tar(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


@pytest.fixture
def release_tgz(make_release) -> Path:
    return create_release(make_release()).tarball


def _assert_clean(dest: Path) -> None:
    assert not dest.exists() or not any(dest.iterdir())


def test_open_extracts_and_verifies(release_tgz, tmp_path):
    dest = tmp_path / "out"
    manifest = open_release_tarball(release_tgz, dest)
    assert manifest.name == "demo"
    assert (dest / "jobs/web.tgz").is_file() and (dest / "packages/app.tgz").is_file()
    job = read_job_archive(dest / "jobs/web.tgz")
    assert job.name == "web" and set(job.templates) == {"web.conf.j2", "ctl.j2"}
    assert job.monit.startswith("processes:")
    assert read_job_archive((dest / "jobs/web.tgz").read_bytes()) == job


def test_tampered_job_archive_is_rejected_with_digests(release_tgz, tmp_path):
    files = _members(release_tgz)
    data = bytearray(files["jobs/web.tgz"])
    data[len(data) // 2] ^= 0xFF
    files["jobs/web.tgz"] = bytes(data)
    bad = _write_tar(tmp_path / "bad.tgz", files)
    dest = tmp_path / "out"
    with pytest.raises(ReleaseError) as e:
        open_release_tarball(bad, dest)
    msg = str(e.value)
    assert "jobs/web.tgz does not match its digest" in msg
    assert "release.MF says sha256:" in msg and "the archive has sha256:" in msg
    _assert_clean(dest)


def test_missing_member_is_rejected(release_tgz, tmp_path):
    files = _members(release_tgz)
    del files["packages/lib.tgz"]
    with pytest.raises(ReleaseError, match=r"packages/lib.tgz is missing"):
        open_release_tarball(_write_tar(tmp_path / "bad.tgz", files), tmp_path / "out")
    _assert_clean(tmp_path / "out")


def test_truncated_tarball_is_rejected(release_tgz, tmp_path):
    data = release_tgz.read_bytes()
    bad = tmp_path / "trunc.tgz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReleaseError, match=r"not a valid release tarball"):
        open_release_tarball(bad, tmp_path / "out")
    _assert_clean(tmp_path / "out")
    bad.write_bytes(b"not a tarball at all")
    with pytest.raises(ReleaseError, match=r"not a valid release tarball"):
        open_release_tarball(bad, tmp_path / "out")


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize("name", ["../evil", "jobs/../../evil", "/tmp/evil-abs", "./../evil"])
def test_path_traversal_is_rejected(release_tgz, tmp_path, name):
    files = _members(release_tgz)
    files[name] = b"pwned"
    work = tmp_path / "work"
    dest = work / "out"
    with pytest.raises(ReleaseError, match=r"unsafe tarball: member .* (absolute path|'\.\.' path component)"):
        open_release_tarball(_write_tar(tmp_path / "bad.tgz", files), dest)
    _assert_clean(dest)
    assert not (work / "evil").exists() and not (tmp_path / "evil").exists()
    assert not Path("/tmp/evil-abs").exists()


def test_symlink_escape_is_rejected_and_nothing_written(release_tgz, tmp_path):
    files = _members(release_tgz)
    files["jobs/escape/evil"] = b"pwned"
    outside = tmp_path / "outside"
    outside.mkdir()
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tar:  # the link first, then a file written "through" it
        tar.addfile(_link("jobs/escape", "../../outside"))
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "out"
    with pytest.raises(ReleaseError, match=r"symlink to '../../outside', which points outside the archive"):
        open_release_tarball(bad, dest)
    _assert_clean(dest)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("info, message", [
    (_link("jobs/x", "/etc/passwd"), "points outside"),
    (_link("jobs/x", "/etc/passwd", tarfile.LNKTYPE), "hardlink to '/etc/passwd', which points outside"),
    (_link("jobs/x", "release.MF"), "links are not allowed"),
])
def test_links_are_rejected(release_tgz, tmp_path, info, message):
    bad = _write_tar(tmp_path / "bad.tgz", _members(release_tgz), [info])
    with pytest.raises(ReleaseError, match=message):
        open_release_tarball(bad, tmp_path / "out")
    _assert_clean(tmp_path / "out")


def test_device_files_are_rejected(release_tgz, tmp_path):
    dev = tarfile.TarInfo("jobs/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    bad = _write_tar(tmp_path / "bad.tgz", _members(release_tgz), [dev])
    with pytest.raises(ReleaseError, match=r"member 'jobs/null' is a device"):
        open_release_tarball(bad, tmp_path / "out")
    _assert_clean(tmp_path / "out")


def test_existing_destination_content_is_refused_and_kept(release_tgz, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(ReleaseError, match="not empty"):
        open_release_tarball(release_tgz, dest)
    assert (dest / "keep").read_text() == "mine"


def test_bad_release_mf_names_the_field(release_tgz, tmp_path):
    files = _members(release_tgz)
    files["release.MF"] = b"name: demo\nversion: '1'\njobs:\n- name: web\n"
    with pytest.raises(ReleaseError, match=r"release.MF: jobs/0/version: Field required"):
        open_release_tarball(_write_tar(tmp_path / "bad.tgz", files), tmp_path / "out")
    _assert_clean(tmp_path / "out")


def test_compiled_packages_are_accepted_in_the_model(release_tgz, tmp_path):
    from bosh_py.release import ReleaseManifest
    m = ReleaseManifest.model_validate({"name": "r", "version": "1", "compiled_packages": [
        {"name": "p", "version": "v", "fingerprint": "v", "sha1": "sha256:00", "stemcell": "debian/1"}]})
    assert m.compiled_packages[0].stemcell == "debian/1"
    assert "compiled_packages" in m.to_yaml_dict()


def test_job_archive_with_traversal_is_rejected(tmp_path):
    bad = _write_tar(tmp_path / "job.tgz", {"job.MF": b"name: x\n", "monit": b"", "../x": b"boom"})
    with pytest.raises(ReleaseError, match=r"unsafe job archive"):
        read_job_archive(bad)
