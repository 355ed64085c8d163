"""The ``vcap`` user and group that BOSH stemcells have and release scripts expect
(``chown vcap:vcap``, ``chpst -u vcap:vcap``, monit's ``as uid vcap and gid vcap``).
A stock image or the local stemcell may lack them: the agent adds them once, on a real
VM only (agent root ``/``), never on a test host."""

from __future__ import annotations

import logging
import pwd
import subprocess
from pathlib import Path

USER = "vcap"


def ensure_vcap_user(root: Path, log: logging.Logger) -> None:
    if Path(root) != Path("/"):
        return
    try:
        pwd.getpwnam(USER)
        return
    except KeyError:
        pass
    for argv in (["groupadd", "-f", USER],
                 ["useradd", "--gid", USER, "--create-home", "--shell", "/bin/bash", USER]):
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        except (OSError, subprocess.TimeoutExpired) as e:
            log.error("cannot add user %s: %s: %s", USER, argv[0], e)
            return
        if result.returncode != 0:
            log.error("cannot add user %s: %s: %s", USER, argv[0], result.stderr.strip())
            return
    log.info("added user and group %s", USER)
