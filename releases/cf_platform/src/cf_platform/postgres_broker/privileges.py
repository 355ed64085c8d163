"""Dropping root once the config is read: the job's config lives under root-only
/var/vcap/jobs, the broker itself needs no privilege (its port is above 1024 and it reaches
PostgreSQL over the network)."""

from __future__ import annotations

import os
import pwd


def become(user: str) -> None:
    """Become ``user`` with no supplementary groups; as that user already, nothing to do."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ValueError(f"--user {user}: no such user on this machine") from None
    if os.geteuid() != 0:
        if os.geteuid() != entry.pw_uid:
            raise ValueError(f"--user {user}: only root can become another user")
        return
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
