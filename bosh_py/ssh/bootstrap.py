"""Installing the agent on a fresh VM over SSH, the way Ansible reaches a host.

The VM only needs sshd and python3. The agent is started now and on every boot: through a
systemd unit where systemd runs, else through /etc/rc.local (the local stemcell's init runs it).
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path

from bosh_py.ssh.agent_bytecode import shipped_bundle
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


# One command prepares the agent's directory and says which init the VM runs.
PREPARE = (f"mkdir -p {AGENT_DIR}/log && chmod 0700 {AGENT_DIR} && "
           "if test -d /run/systemd/system; then echo systemd; else echo rc.local; fi")


def install_agent(ssh: PinnedSshClient, bundle: Path, settings: dict) -> None:
    """Three round trips: prepare, one SFTP session for every file, start. The bundle goes
    with its modules' bytecode (``agent_bytecode``), so the agent does not compile itself at
    each start; the settings (the agent's credentials) are 0600 in a 0700 directory."""
    uses_systemd = ssh.run(PREPARE).stdout.strip() == "systemd"
    files = [(shipped_bundle(bundle, AGENT_BUNDLE), AGENT_BUNDLE, 0o644),
             (json.dumps(settings).encode(), AGENT_SETTINGS, 0o600)]
    if uses_systemd:
        ssh.put_files([*files, (SYSTEMD_UNIT.encode(), "/etc/systemd/system/bosh-py-agent.service", 0o644)])
        ssh.run("systemctl daemon-reload && systemctl enable --now bosh-py-agent.service")
    else:
        ssh.put_files([*files, (RC_LOCAL.encode(), "/etc/rc.local", 0o755)])
        ssh.run("/etc/rc.local")


PUBLIC_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) ([A-Za-z0-9+/]+=*)( [\w@.:-]*)?")


def checked_public_key(public_key: str) -> tuple[str, str]:
    """(type, base64 blob) of an OpenSSH public key line; anything else is refused, since
    the key ends up in a shell command on the VM."""
    match = PUBLIC_KEY.fullmatch(public_key.strip())
    if match is None:
        raise SshError("Not an OpenSSH public key (expected 'ssh-ed25519 AAAA... [comment]')")
    return match.group(1), match.group(2)


ONE_TIME_COMMENT = "bosh-py-ssh"
ROOT_AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"

# Runs on the VM (python3 is there for the agent) under a lock, so concurrent sessions do
# not lose each other's lines. Drops this session's key, every one-time key whose expiry
# has passed and any one-time key without an expiry (left by an older director), keeps
# every other line as it is, then adds the new line on setup. argv: path action blob line
_EDIT_AUTHORIZED_KEYS = r"""
import fcntl, os, sys, time
path, action, blob, line = sys.argv[1:5]
now = time.strftime("%Y%m%d%H%M%S", time.gmtime())
os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
with open(path + ".lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with open(path) as keys:
            lines = keys.read().splitlines()
    except FileNotFoundError:
        lines = []
    def stale(entry):
        if not entry.endswith(" COMMENT"):
            return False
        expiry = entry.partition('expiry-time="')[2][:14]
        return blob in entry.split() or not expiry.isdigit() or expiry <= now
    kept = [entry for entry in lines if not stale(entry)] + ([line] if action == "setup" else [])
    with open(path + ".new", "w") as out:
        out.write("".join(entry + "\n" for entry in kept))
    os.chmod(path + ".new", 0o600)
    os.replace(path + ".new", path)
""".replace("COMMENT", ONE_TIME_COMMENT)


def one_time_key_line(public_key: str, expires_at: datetime) -> str:
    """The authorized_keys line for an operator's one-time key: sshd itself refuses it after
    ``expires_at`` (UTC), so a key left behind by a CLI that died stops working on its own."""
    key_type, blob = checked_public_key(public_key)
    return f'expiry-time="{expires_at.astimezone(timezone.utc):%Y%m%d%H%M%S}Z" {key_type} {blob} {ONE_TIME_COMMENT}'


def _edit_authorized_keys(ssh: PinnedSshClient, action: str, blob: str, line: str) -> None:
    args = [ROOT_AUTHORIZED_KEYS, action, blob, line]
    ssh.run("/usr/bin/python3 -c " + " ".join(shlex.quote(a) for a in [_EDIT_AUTHORIZED_KEYS, *args]))


def authorize_key(ssh: PinnedSshClient, public_key: str, expires_at: datetime) -> None:
    """Add an operator's one-time key for `bosh-py ssh`, valid for logging in until
    ``expires_at``; expired one-time keys are removed at the same time."""
    _, blob = checked_public_key(public_key)
    _edit_authorized_keys(ssh, "setup", blob, one_time_key_line(public_key, expires_at))


def revoke_key(ssh: PinnedSshClient, public_key: str) -> None:
    """Remove the one-time key (and any expired one) when the session ends."""
    _, blob = checked_public_key(public_key)
    _edit_authorized_keys(ssh, "cleanup", blob, "")
