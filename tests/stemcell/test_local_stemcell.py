"""The local stemcell builder: mirror discovery, manifest, and a real (cached) build."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from bosh_py.stemcell.local import STEMCELL_NAME, StemcellManifest, apt_mirror, build_local_stemcell

CACHE = Path("/var/cache/bosh-py/stemcell")


def test_mirror_from_one_line_sources(tmp_path):
    sources = tmp_path / "sources.list"
    sources.write_text("# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n"
                       "deb http://security.debian.org/debian-security bookworm-security main\n")
    assert apt_mirror(sources, tmp_path / "none") == "http://mirror.example/debian"


def test_mirror_from_deb822_sources(tmp_path):
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: bookworm\n")
    assert apt_mirror(tmp_path / "missing.list", tmp_path) == "http://deb.debian.org/debian"


def test_mirror_default(tmp_path):
    assert apt_mirror(tmp_path / "missing.list", tmp_path) == "http://deb.debian.org/debian"


def test_manifest_fields():
    manifest = yaml.safe_load(StemcellManifest(sha1="sha256:ab").to_yaml())
    assert manifest["name"] == STEMCELL_NAME
    assert manifest["operating_system"] == "debian-bookworm"
    assert manifest["stemcell_formats"] == ["local-rootfs"]
    assert manifest["cloud_properties"] == {}
    assert isinstance(manifest["version"], str)


@pytest.mark.vm
@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap needs root")
def test_build_is_cached_and_complete(tmp_path):
    """First build about 30 s (debootstrap); then a re-pack from the cached tree is quick."""
    output = tmp_path / "stemcell.tar"
    build_local_stemcell(CACHE, output, log=lambda _line: None)
    started = time.monotonic()
    again = tmp_path / "again.tar"
    build_local_stemcell(CACHE, again, log=lambda _line: None)
    assert time.monotonic() - started < 20
    with tarfile.open(output) as tar:
        assert sorted(tar.getnames()) == ["image", "stemcell.MF"]
        manifest = yaml.safe_load(tar.extractfile("stemcell.MF").read())
        image = tar.extractfile("image").read()
    assert manifest["name"] == STEMCELL_NAME and manifest["sha1"].startswith("sha256:")
    with tarfile.open(fileobj=io.BytesIO(image)) as rootfs:
        names = set(rootfs.getnames())
        root = rootfs.getmember(".")
    assert {"./usr/sbin/sshd", "./usr/bin/python3", "./usr/bin/ps", "./usr/bin/ip"} <= names
    assert not [n for n in names if n.startswith("./etc/ssh/ssh_host_")]
    assert "./usr/sbin/policy-rc.d" not in names
    assert not [n for n in names if n.startswith("./var/lib/apt/lists/") and n.endswith("Packages")]
    assert root.mode & 0o777 == 0o755
    assert not list(tmp_path.glob(".stemcell-*"))  # no temp leftovers
    build_local_stemcell(CACHE, output, log=lambda _line: None)  # up to date: no-op
