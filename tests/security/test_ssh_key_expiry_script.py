"""The authorized_keys edit the director runs on a VM for `bosh-py ssh`, run here on a
file: one-time keys carry sshd's expiry-time, expired and expiry-less one-time keys are
swept, every other line (the director's own key) is kept as it is."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone

from bosh_py.ssh import bootstrap
from bosh_py.ssh.keys import generate_keypair


def edit(path, action: str, public_key: str, line: str = "") -> list[str]:
    blob = public_key.split()[1]
    subprocess.run(["python3", "-c", bootstrap._EDIT_AUTHORIZED_KEYS, str(path), action, blob, line], check=True)
    return path.read_text().splitlines()


def test_one_time_keys_expire_and_are_swept(tmp_path):
    path = tmp_path / ".ssh" / "authorized_keys"
    path.parent.mkdir()
    director_key = generate_keypair("bosh-py-director").public_key
    old_style = generate_keypair().public_key.split()[1]
    expired = generate_keypair().public_key
    now = datetime.now(timezone.utc)
    path.write_text(f"{director_key}\nssh-ed25519 {old_style} bosh-py-ssh\n"
                    f"{bootstrap.one_time_key_line(expired, now - timedelta(seconds=1))}\n")
    session = generate_keypair().public_key
    line = bootstrap.one_time_key_line(session, now + timedelta(minutes=2))
    assert line.startswith(f'expiry-time="{(now + timedelta(minutes=2)):%Y%m%d%H%M%S}Z" ssh-ed25519 ')

    assert edit(path, "setup", session, line) == [director_key, line]
    assert path.stat().st_mode & 0o777 == 0o600
    assert edit(path, "cleanup", session) == [director_key]


def test_cli_removes_private_keys_left_by_a_killed_session(tmp_path, monkeypatch):
    from bosh_py.cli import ssh_cmds

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    left, current, other = (tmp_path / f"{ssh_cmds.KEY_DIR_PREFIX}{name}" for name in ("left", "current", "x"))
    for directory in (left, current):
        directory.mkdir()
        (directory / "id").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    other.write_text("a file, not a key directory")
    long_ago = time.time() - ssh_cmds.KEY_LIFETIME - 60
    os.utime(left, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    ssh_cmds.remove_stale_key_dirs()
    assert not left.exists() and (current / "id").exists() and other.exists()
