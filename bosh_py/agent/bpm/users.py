"""The vcap user bpm processes run as: BOSH stemcells have it; the agent adds it where the
image lacks it (``vcap_user``), and bpm asks for it the same way, under a lock so two
starts at once do not race."""

from __future__ import annotations

import fcntl
import logging
import os
import pwd
from pathlib import Path

from bosh_py.agent.bpm.errors import BpmError
from bosh_py.agent.vcap_user import USER, ensure_vcap_user


def ensure_vcap(lock_dir: Path) -> tuple[int, int]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".useradd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entry = pwd.getpwnam(USER)
        except KeyError:
            log = logging.getLogger("bpm")
            log.addHandler(logging.StreamHandler())  # its errors reach bpm's stderr
            ensure_vcap_user(Path("/"), log)
            try:
                entry = pwd.getpwnam(USER)
            except KeyError:
                raise BpmError(f"user {USER} does not exist and could not be added") from None
    return entry.pw_uid, entry.pw_gid


def share_with_group(root: Path, gid: int) -> None:
    """Let the vcap group read a job's rendered templates (BOSH installs them root:vcap
    0750; the agent installs them owner-only, and the job's processes now run as vcap).
    Nobody else gains anything: ``other`` bits stay off."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chown(dirpath, -1, gid)
        os.chmod(dirpath, (os.stat(dirpath).st_mode & 0o7700) | 0o050)
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                continue
            mode = os.stat(full).st_mode
            os.chown(full, -1, gid)
            os.chmod(full, (mode & 0o7700) | 0o040 | (0o010 if mode & 0o100 else 0))
