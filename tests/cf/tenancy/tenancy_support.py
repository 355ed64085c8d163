"""A real UAA and a real cloud controller that trusts it, on loopback, for the tenancy tests.

The UAA is tests/cf/uaa's (its job template rendered, run as the VM runs it); the CC is run
as its job runs it (``python -S -m cf_platform.cloud_controller``) with the config's ``uaa``
section and the python3-cryptography package the uaa release ships on its path (the CC
verifies RS256 with it). Every process is ended by its PID.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.cf.cc.plumbing import CcProcess, Nats, cc_config, vm_python, wait_port
from tests.cf.uaa.uaa_support import ADMIN_PASSWORD, basic, bearer, password_grant
from tests.harness import free_port

__all__ = ["ADMIN_PASSWORD", "basic", "bearer", "password_grant", "start_cc_with_uaa", "token_of"]


def start_cc_with_uaa(workdir: Path, nats_: Nats, uaa_url: str, crypto_package: Path, **overrides: Any) -> CcProcess:
    """The CC with ``uaa: {url}``: it takes the UAA's tokens and issues none itself."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = cc_config(workdir, nats_, port, uaa={"url": uaa_url, "refetch_interval": 1}, **overrides)
    path = workdir / "cc.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    log_path = workdir / "cc.log"
    python, env = vm_python(workdir)
    env["PYTHONPATH"] += f":{crypto_package}/usr/lib/python3/dist-packages"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([*python, "-m", "cf_platform.cloud_controller", "--config", str(path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_port(port, proc=proc)
    return CcProcess(f"http://127.0.0.1:{port}", port, config, path, proc, log_path)


def token_of(uaa_url: str, user: str, password: str, **form: str) -> str:
    with httpx.Client(base_url=uaa_url, timeout=10) as http:
        response = password_grant(http, user, password, **form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]
