"""Persistent disks: attached to a running VM, visible inside it, moved between VMs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cpi.support import ssh

pytestmark = pytest.mark.vm


def test_disk_moves_between_vms(cpi, make_vm, client_key):
    first, second = make_vm(), make_vm()
    disk = cpi.ok("create_disk", 1024, {}, first.cid)
    assert cpi.ok("has_disk", disk) is True

    hint = cpi.ok("attach_disk", first.cid, disk)
    assert hint == f"/var/vcap/bosh/disks/{disk}"
    assert cpi.ok("get_disks", first.cid) == [disk]
    ssh(first, client_key, f"echo precious > {hint}/data.txt")
    assert (cpi.root / "disks" / disk / "data" / "data.txt").read_text() == "precious\n"

    assert cpi.call("attach_disk", second.cid, disk)["error"]["type"] == "CloudError"
    assert cpi.call("delete_disk", disk)["error"]["type"] == "CloudError"  # still attached

    assert cpi.ok("detach_disk", first.cid, disk) is None
    assert cpi.ok("get_disks", first.cid) == []
    assert ssh(first, client_key, f"ls {hint} 2>&1 || true").strip().endswith("No such file or directory")
    assert cpi.call("detach_disk", first.cid, disk)["error"]["type"] == "DiskNotAttached"

    assert cpi.ok("attach_disk", second.cid, disk) == hint
    assert ssh(second, client_key, f"cat {hint}/data.txt").strip() == "precious"

    cpi.ok("delete_vm", second.cid)  # detaches, never deletes
    assert (cpi.root / "disks" / disk / "data" / "data.txt").exists()

    third = make_vm(disk_cids=[disk])  # attached at boot
    assert cpi.ok("get_disks", third.cid) == [disk]
    assert ssh(third, client_key, f"cat {hint}/data.txt").strip() == "precious"
    cpi.ok("reboot_vm", third.cid)
    assert ssh(third, client_key, f"cat {hint}/data.txt").strip() == "precious"
    cpi.ok("delete_vm", third.cid)

    assert cpi.ok("delete_disk", disk) is None
    assert cpi.ok("has_disk", disk) is False
    assert not [m for m in cpi.our_mounts() if disk in m]


def test_reboot_after_host_reboot_restores_network_and_disks(cpi, make_vm, client_key):
    """A host reboot loses netns, mounts and processes but keeps the CPI's state files."""
    disk = cpi.ok("create_disk", 100, {}, None)
    vm = make_vm(disk_cids=[disk])
    ssh(vm, client_key, f"echo before > /var/vcap/bosh/disks/{disk}/f")
    vm_dir = cpi.root / "vms" / vm.cid
    state = json.loads((vm_dir / "state.json").read_text())
    init_pid = int((vm_dir / "init.pid").read_text().split()[0])
    os.kill(init_pid, signal.SIGKILL)  # our own VM's PID 1, recorded by the CPI
    time.sleep(0.3)
    subprocess.run(["ip", "netns", "delete", state["netns"]], check=True)
    subprocess.run(["umount", "-R", str(vm_dir / "disks")], check=True)
    assert not [m for m in cpi.our_mounts() if vm.cid in m]

    cpi.ok("reboot_vm", vm.cid)
    assert ssh(vm, client_key, f"cat /var/vcap/bosh/disks/{disk}/f").strip() == "before"
    assert Path(f"/run/netns/{state['netns']}").exists()
    cpi.ok("delete_vm", vm.cid)
    cpi.ok("delete_disk", disk)
