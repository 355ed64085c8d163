"""Installing the agent on a fresh VM over SSH, the way Ansible reaches a host.

The VM only needs sshd and python3. The agent is started now and on every boot: through a
systemd unit where systemd runs, else through /etc/rc.local (the local stemcell's init runs it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bosh_py.ssh.client import PinnedSshClient, SshError

AGENT_DIR = "/var/vcap/bosh"
AGENT_BUNDLE = f"{AGENT_DIR}/agent.pyz"
AGENT_SETTINGS = f"{AGENT_DIR}/settings.json"
AGENT_COMMAND = f"/usr/bin/python3 {AGENT_BUNDLE} --settings {AGENT_SETTINGS}"

SYSTEMD_UNIT = f"""[Unit]
Description=bosh-py agent
After=network.target

[Service]
ExecStart={AGENT_COMMAND}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""

RC_LOCAL = f"""#!/bin/sh
# Written by the bosh-py director: start the agent at boot, and again whenever it exits
# (job processes outlive it; the next agent adopts them).
mkdir -p {AGENT_DIR}/log
setsid sh -c 'while :; do {AGENT_COMMAND}; sleep 1; done' >> {AGENT_DIR}/log/agent.stdout 2>&1 < /dev/null &
exit 0
"""


def install_agent(ssh: PinnedSshClient, bundle: Path, settings: dict) -> None:
    ssh.run(f"mkdir -p {AGENT_DIR}/log && chmod 0700 {AGENT_DIR}")
    ssh.put_bytes(bundle.read_bytes(), AGENT_BUNDLE, 0o644)
    ssh.put_bytes(json.dumps(settings).encode(), AGENT_SETTINGS, 0o600)
    uses_systemd = ssh.run("test -d /run/systemd/system", check=False).exit_status == 0
    if uses_systemd:
        ssh.put_bytes(SYSTEMD_UNIT.encode(), "/etc/systemd/system/bosh-py-agent.service")
        ssh.run("systemctl daemon-reload && systemctl enable --now bosh-py-agent.service")
    else:
        ssh.put_bytes(RC_LOCAL.encode(), "/etc/rc.local", 0o755)
        ssh.run("/etc/rc.local")


PUBLIC_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) ([A-Za-z0-9+/]+=*)( [\w@.:-]*)?")


def checked_public_key(public_key: str) -> tuple[str, str]:
    """(type, base64 blob) of an OpenSSH public key line; anything else is refused, since
    the key ends up in a shell command on the VM."""
    match = PUBLIC_KEY.fullmatch(public_key.strip())
    if match is None:
        raise SshError("Not an OpenSSH public key (expected 'ssh-ed25519 AAAA... [comment]')")
    return match.group(1), match.group(2)


def authorize_key(ssh: PinnedSshClient, public_key: str) -> None:
    """Add an operator's one-time key for `bosh-py ssh`; removed again by revoke_key."""
    key_type, blob = checked_public_key(public_key)
    ssh.run(f"mkdir -p /root/.ssh && echo '{key_type} {blob} bosh-py-ssh' >> /root/.ssh/authorized_keys")


def revoke_key(ssh: PinnedSshClient, public_key: str) -> None:
    _, blob = checked_public_key(public_key)
    ssh.run(f"sed -i '\\#{blob}#d' /root/.ssh/authorized_keys", check=False)
