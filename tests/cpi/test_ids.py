"""Shifting files into the VMs' id range (stemcells, upper layers, disks made before VMs had
user namespaces, or under another id_base): owners move, setuid bits and links survive,
device nodes go."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cpi.local import ids, ownership
from cpi.local.config import Config, load_config
from cpi.local.errors import InvalidCall
from tests.cpi.support import needs_root

BASE = ids.IdRange(1_000_000)


@needs_root
def test_shift_tree_moves_owners_keeps_setuid_drops_devices(tmp_path):
    root = tmp_path / "rootfs"
    (root / "usr/bin").mkdir(parents=True)
    passwd = root / "usr/bin/passwd"
    passwd.write_text("#!/bin/sh\n")
    os.chmod(passwd, 0o4755)
    (root / "home").mkdir()
    os.chown(root / "home", 1000, 1000)
    os.symlink("usr/bin", root / "bin")
    os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    outside = root / "outside"
    outside.write_text("")
    os.chown(outside, 70000, 70000)  # not in the 0..65535 range: left alone

    ids.shift_tree(root, ids.UNSHIFTED, BASE)

    assert (root.stat().st_uid, root.stat().st_gid) == (1_000_000, 1_000_000)
    assert passwd.stat().st_uid == 1_000_000 and stat.S_IMODE(passwd.stat().st_mode) == 0o4755
    assert (root / "home").stat().st_uid == 1_001_000
    assert (root / "bin").lstat().st_uid == 1_000_000 and os.readlink(root / "bin") == "usr/bin"
    assert not (root / "null").exists()
    assert outside.stat().st_uid == 70000

    ids.shift_tree(root, BASE.base, ids.IdRange(2_000_000))  # another id_base later
    assert (root / "home").stat().st_uid == 2_001_000


@needs_root
def test_a_stemcell_unpacked_before_user_namespaces_is_shifted_once(tmp_path):
    config = Config(root=tmp_path)
    rootfs = tmp_path / "stemcells/sc-old/rootfs"
    rootfs.mkdir(parents=True)
    (rootfs / "etc").mkdir()
    (tmp_path / "stemcells/sc-old/stemcell.json").write_text(json.dumps({"cid": "sc-old"}))

    ownership.stemcell(config, "sc-old")
    assert (rootfs / "etc").stat().st_uid == config.id_base
    recorded = json.loads((tmp_path / "stemcells/sc-old/stemcell.json").read_text())
    assert recorded["id_base"] == config.id_base and recorded["cid"] == "sc-old"
    os.chown(rootfs / "etc", 0, 0)
    ownership.stemcell(config, "sc-old")  # recorded: not walked again
    assert (rootfs / "etc").stat().st_uid == 0


@pytest.mark.parametrize("value", [0, 1000, "1000000", True, 2**32])
def test_id_base_must_be_above_host_users(tmp_path, value):
    path = tmp_path / "cpi.json"
    path.write_text(json.dumps({"id_base": value}))
    with pytest.raises(InvalidCall, match="id_base"):
        load_config(str(path))


def test_id_base_is_read_from_the_config(tmp_path):
    path = tmp_path / "cpi.json"
    path.write_text(json.dumps({"root": str(tmp_path), "id_base": 3_000_000}))
    assert load_config(str(path)).ids == ids.IdRange(3_000_000)
    assert Path(load_config(str(path)).root) == tmp_path
