"""Archive extraction decides "inside the app" on the real filesystem (issue 6): chains of
relative links that look contained to a lexical check, links redirected by later entries,
and writes through links are refused; ordinary relative links inside the app stay."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from cf_platform.dea import archive

from tests.cf.dea.helpers import zip_with_links


def unzip(tmp_path: Path, entries: list[tuple[str, str, bool]]) -> Path:
    (tmp_path / "in.zip").write_bytes(zip_with_links(entries))
    archive.unzip(tmp_path / "in.zip", tmp_path / "out", 1 << 20)
    return tmp_path / "out"


CHAIN = [("a/b/c/d/e/f/g/h/i/j/up", "../../../../../../../../../..", True),
         ("root", "a/b/c/d/e/f/g/h/i/j/up/../../../../../../../../../..", True),
         ("x.py", "root/etc/hostname", True)]


def test_the_issues_symlink_chain_is_refused(tmp_path):
    with pytest.raises(archive.UnsafeArchive, match="symlink 'root' points outside the app"):
        unzip(tmp_path, [("app.py", "", False), *CHAIN])
    assert not (tmp_path / "out" / "x.py").exists()


def test_a_link_redirected_by_a_later_entry_is_refused_and_no_link_is_left(tmp_path):
    with pytest.raises(archive.UnsafeArchive, match="through other links"):
        unzip(tmp_path, [("root", "a/x/../..", True), ("a/x", "..", True)])
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_symlink()]


def test_writing_through_a_link_into_the_outside_is_refused(tmp_path):
    with pytest.raises(archive.UnsafeArchive):
        unzip(tmp_path, [("up", "..", True), ("up/escaped.txt", "x", False)])
    assert not (tmp_path / "escaped.txt").exists()


def test_links_inside_the_app_are_kept(tmp_path):
    out = unzip(tmp_path, [("lib/real.py", "X = 1\n", False), ("lib/alias.py", "real.py", True),
                           ("sub/dir/up", "../..", True), ("current", "lib", True)])
    assert os.readlink(out / "lib/alias.py") == "real.py" and (out / "lib/alias.py").read_text() == "X = 1\n"
    assert os.path.realpath(out / "sub/dir/up") == os.path.realpath(out)
    assert (out / "current" / "real.py").is_file()


def test_droplet_untar_refuses_the_same_chain(tmp_path):
    path = tmp_path / "d.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, target, _link in CHAIN:
            info = tarfile.TarInfo("app/" + name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    with pytest.raises(archive.UnsafeArchive, match="points outside"):
        archive.untar(path, tmp_path / "out", 1 << 20, only="app")
