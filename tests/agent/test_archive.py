"""Safe extraction: nothing lands outside the target directory."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from bosh_py.agent.archive import make_tgz, safe_extract
from bosh_py.agent.digest import Digest
from bosh_py.agent.errors import AgentActionError


def tgz(tmp_path, members):
    path = tmp_path / "a.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize("members", [
    [file("../evil")],
    [file("/etc/evil")],
    [file("ok/../../evil")],
    [link("out", "/"), file("out/evil")],                   # write through a symlink
    [link("up", ".."), file("up/evil")],
    [link("hard", "../../etc/passwd", tarfile.LNKTYPE)],    # hard link to outside
])
def test_escapes_are_refused(tmp_path, members):
    dest = tmp_path / "dest"
    with pytest.raises(AgentActionError, match="escapes|points outside"):
        safe_extract(tgz(tmp_path, members), dest)
    assert not (tmp_path / "evil").exists()


def test_normal_archive_with_links_and_modes(tmp_path):
    members = [file("./bin/run", b"#!/bin/sh\n", 0o4755), file("lib/libx.so.1", b"elf"),
               link("lib/libx.so", "libx.so.1"), link("abs", "/var/vcap/packages/x")]
    dest = tmp_path / "dest"
    safe_extract(tgz(tmp_path, members), dest)
    assert (dest / "bin/run").read_bytes() == b"#!/bin/sh\n"
    assert oct((dest / "bin/run").stat().st_mode & 0o7777) == "0o755"  # setuid dropped
    assert os.readlink(dest / "lib/libx.so") == "libx.so.1"
    assert os.readlink(dest / "abs") == "/var/vcap/packages/x"
    assert (dest / "bin/run").stat().st_uid == 0 or os.geteuid() != 0


def test_make_tgz_round_trip(tmp_path):
    src = tmp_path / "src"
    (src / "a/b").mkdir(parents=True)
    (src / "a/b/f.txt").write_text("f")
    (src / ".hidden").write_text("h")
    (src / "empty").mkdir()
    out = make_tgz(tmp_path / "o.tgz", [(src, "")])
    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == [".hidden", "a/b/f.txt", "empty"]
    dest = tmp_path / "dest"
    safe_extract(out, dest)
    assert (dest / "a/b/f.txt").read_text() == "f" and (dest / "empty").is_dir()


def test_digest_forms():
    assert str(Digest.parse("sha256:" + "A" * 64)) == "sha256:" + "a" * 64
    assert Digest.parse("b" * 40).algorithm == "sha1"
    assert Digest.parse("c" * 40 + ";sha256:" + "d" * 64).algorithm == "sha256"
    for bad in ("md5:abc", "sha256:xyz", ""):
        with pytest.raises(AgentActionError):
            Digest.parse(bad)
