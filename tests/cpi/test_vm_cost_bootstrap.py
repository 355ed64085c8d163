"""The director's SSH bootstrap on a real local VM: three round trips, the agent's files with
their modes, and bytecode the VM's own python3 loads (the stemcell's python is not the
director's: the bytecode must be of the same magic number, or it would be ignored)."""

from __future__ import annotations

import json

import pytest

from bosh_py.agent.bundle import build_agent_bundle
from bosh_py.ssh.bootstrap import AGENT_BUNDLE, AGENT_DIR, AGENT_SETTINGS, install_agent
from bosh_py.ssh.client import PinnedSshClient
from tests.cpi.support import ssh
from tests.ssh.test_vm_cost_agent_bytecode import COUNT_COMPILES

pytestmark = pytest.mark.vm


class CountingClient(PinnedSshClient):
    """Counts commands and SFTP sessions, the round trips a bootstrap makes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.commands, self.sftp_sessions = 0, 0

    def run(self, *args, **kwargs):
        self.commands += 1
        return super().run(*args, **kwargs)

    def put_files(self, files):
        self.sftp_sessions += 1
        return super().put_files(files)


def test_bootstrap_ships_bytecode_the_vm_loads(make_vm, client_key, tmp_path):
    vm = make_vm()
    bundle = build_agent_bundle(tmp_path / "agent.pyz")
    settings = {"agent_id": "a-1", "mbus": "nats://agent:secret@127.0.0.1:1", "blobstore": {},
                "heartbeat_interval": 10, "vm": {"cid": vm.cid}, "env": {}}
    with CountingClient(vm.ip, client_key.private, vm.host_key.public).connect(timeout=30) as client:
        install_agent(client, bundle, settings)
    assert (client.commands, client.sftp_sessions) == (2, 1)

    modes = ssh(vm, client_key, f"stat -c '%a %n' {AGENT_DIR} {AGENT_BUNDLE} {AGENT_SETTINGS} /etc/rc.local")
    assert modes.split("\n")[:4] == [f"700 {AGENT_DIR}", f"644 {AGENT_BUNDLE}", f"600 {AGENT_SETTINGS}",
                                     "755 /etc/rc.local"]
    assert json.loads(ssh(vm, client_key, f"cat {AGENT_SETTINGS}")) == settings
    script = COUNT_COMPILES.replace("'", "'\\''")
    count, _, filename = json.loads(ssh(vm, client_key, f"cd / && /usr/bin/python3 -S -c '{script}' "
                                                        f"{AGENT_BUNDLE} bosh_py.agent.main"))
    assert count == 0, "the VM's python3 compiled the agent instead of loading its bytecode"
    assert filename == f"{AGENT_BUNDLE}/bosh_py/agent/main.py"
