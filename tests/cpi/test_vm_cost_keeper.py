"""Each VM's keeper is a fork of the create_vm call, not a new interpreter (which cost 0.1-0.15
CPU-seconds per VM to start): it must still hold nothing of the call it was forked from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cpi.support import ssh

pytestmark = pytest.mark.vm


def test_the_keeper_is_a_fork_holding_nothing_of_the_call(cpi, make_vm, client_key):
    vm = make_vm()
    vm_dir = cpi.root / "vms" / vm.cid
    pid = int((vm_dir / "keeper.pid").read_text().split()[0])
    proc = Path(f"/proc/{pid}")
    assert (proc / "comm").read_text().strip() == "bosh-py-keeper"
    assert os.getsid(pid) == pid  # its own session: the director's signals to the call miss it
    # nothing of the environment the call was given (the director's), not even in /proc
    assert [entry for entry in (proc / "environ").read_text().split("\0") if entry] == []
    held = sorted(os.readlink(fd) for fd in (proc / "fd").iterdir())
    assert held == ["/dev/null"] * 3 + [str(vm_dir / "console.log")]
    # it still keeps the VM: the VM runs, and dies with it
    assert ssh(vm, client_key, "hostname").strip() == vm.cid
    assert cpi.ok("delete_vm", vm.cid) is None
    assert not proc.exists() or (proc / "stat").read_text().split(")")[1].split()[0] == "Z"
