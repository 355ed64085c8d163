"""Real namespace VMs: boot, SSH with a pinned host key, isolation, reboot, delete."""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
from pathlib import Path

import paramiko
import pytest

from cpi.local.network import mac_of
from tests.cpi.support import CPI, KeyPair, ssh, wait_for

pytestmark = pytest.mark.vm


def test_create_ssh_and_delete(cpi, make_vm, client_key):
    started = time.monotonic()
    vm = make_vm()
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"create_vm took {elapsed:.1f}s"

    assert ssh(vm, client_key, "hostname").strip() == vm.cid
    assert vm.ip in ssh(vm, client_key, "ip -4 -o addr show dev eth0")
    assert ssh(vm, client_key, "ip route").strip().splitlines() == [
        f"{cpi.subnet}.0/24 dev eth0 proto kernel scope link src {vm.ip}"]  # no route out
    assert "/run/bosh-py/init.py" in ssh(vm, client_key, "tr '\\0' ' ' < /proc/1/cmdline")
    pids = [int(p) for p in ssh(vm, client_key, "ps -e -o pid=").split()]
    assert max(pids) < 100, "the VM sees only its own PID namespace"
    assert "overlay on / type overlay" in ssh(vm, client_key, "mount")
    assert cpi.ok("has_vm", vm.cid) is True
    state = json.loads((cpi.root / "vms" / vm.cid / "state.json").read_text())

    assert cpi.ok("delete_vm", vm.cid) is None
    assert cpi.ok("has_vm", vm.cid) is False
    assert state["netns"] not in cpi.our_netns()
    assert state["veth"] not in cpi.our_links()
    assert not [m for m in cpi.our_mounts() if vm.cid in m]
    assert not (cpi.root / "vms" / vm.cid).exists()
    assert not [line for line in subprocess.run(["ps", "-e", "-o", "stat=,args="], capture_output=True,
                text=True).stdout.splitlines() if vm.cid in line and not line.startswith("Z")]


def test_host_key_is_pinned(make_vm, client_key):
    vm = make_vm()
    impostor = KeyPair.generate("not-the-vm")
    with pytest.raises(paramiko.BadHostKeyException):
        ssh(vm, client_key, "true", pinned=impostor)


def test_reboot_keeps_files_ip_and_runs_rc_local(cpi, make_vm, client_key):
    vm = make_vm()
    ssh(vm, client_key, "echo kept > /root/kept; echo gone > /tmp/gone; "
                        "printf '#!/bin/sh\\necho ran > /run/rc-local-ran\\n' > /etc/rc.local; "
                        "chmod +x /etc/rc.local")
    host_init = (cpi.root / "vms" / vm.cid / "init.pid").read_text().split()[0]
    assert cpi.ok("reboot_vm", vm.cid) is None
    assert (cpi.root / "vms" / vm.cid / "init.pid").read_text().split()[0] != host_init
    assert ssh(vm, client_key, "cat /root/kept").strip() == "kept"
    assert ssh(vm, client_key, "ls /tmp").strip() == ""
    assert wait_for(lambda: ssh(vm, client_key, "cat /run/rc-local-ran 2>/dev/null || true").strip() == "ran")
    assert not Path(f"/proc/{host_init}").exists() or \
        "init.py" not in Path(f"/proc/{host_init}/cmdline").read_bytes().decode(errors="replace")


def test_set_vm_metadata(cpi, make_vm):
    vm = make_vm()
    assert cpi.ok("set_vm_metadata", vm.cid, {"deployment": "d", "job": "j", "index": "0"}) is None
    assert json.loads((cpi.root / "vms" / vm.cid / "metadata.json").read_text())["job"] == "j"
    assert cpi.call("set_vm_metadata", "vm-nothere", {})["error"]["type"] == "VMNotFound"


def test_ip_in_use_is_refused(cpi, make_vm, stemcell_cid):
    vm = make_vm()
    networks = {"default": {"type": "manual", "ip": vm.ip, "netmask": "255.255.255.0",
                            "gateway": f"{cpi.subnet}.1", "cloud_properties": {}}}
    response = cpi.call("create_vm", "agent-2", stemcell_cid, {}, networks, [], {})
    assert response["error"]["type"] == "VMCreationFailed"
    assert "already used" in response["error"]["message"]


def test_failed_boot_leaves_no_orphan(cpi, stemcell_cid, tmp_path):
    impatient = tmp_path / "impatient.json"
    config = json.loads(cpi.config_path.read_text())
    impatient.write_text(json.dumps({**config, "boot_timeout": 0}))
    before = (cpi.our_netns(), cpi.our_links(), cpi.our_mounts(), _our_processes(cpi))
    response = cpi.call("create_vm", "agent-3", stemcell_cid, {}, cpi.networks(250), [], {},
                        config_path=impatient)
    assert response["error"]["type"] == "VMCreationFailed"
    assert not any("vm-" in p.name for p in (cpi.root / "vms").iterdir()
                   if not (p / "state.json").exists())
    time.sleep(0.3)
    assert (cpi.our_netns(), cpi.our_links(), cpi.our_mounts(), _our_processes(cpi)) == before


def test_a_subnet_another_bridge_holds_is_refused_at_once(cpi, make_vm, stemcell_tarball, tmp_path):
    """A second CPI (its own root and bridge) on the /24 the first one's bridge holds: the host
    would route the subnet to the first bridge, so the VM would boot unreachable. The CPI says
    so at once, naming the interface, and makes nothing (not even its bridge)."""
    make_vm()  # the first CPI's bridge holds the subnet
    root = Path(f"{cpi.root}-second")
    second = tmp_path / "second.json"
    second.write_text(json.dumps({"root": str(root), "bridge": f"{cpi.bridge}x", "prefix": f"{cpi.prefix[:3]}y"}))
    try:
        with tarfile.open(stemcell_tarball) as tar:
            tar.extract("image", tmp_path)
        stemcell = cpi.call("create_stemcell", str(tmp_path / "image"), {}, config_path=second)["result"]
        started = time.monotonic()
        response = cpi.call("create_vm", "agent-4", stemcell, {}, cpi.networks(240), [], {},
                            config_path=second)
        assert time.monotonic() - started < 10
        assert response["error"] is not None, response
        message = response["error"]["message"]
        assert f"subnet {cpi.subnet}.0/24 of bridge {cpi.bridge}x is already on interface {cpi.bridge}" in message
        assert not (root / "vms").exists() or not list((root / "vms").iterdir())
        assert subprocess.run(["ip", "link", "show", f"{cpi.bridge}x"], capture_output=True).returncode != 0
    finally:
        subprocess.run([str(CPI), "cleanup", "--purge", str(second)], capture_output=True, check=False)


def _our_processes(cpi) -> list[str]:
    """Live (non-zombie) processes whose command line names this CPI root."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if str(cpi.root) in line and not line.split()[1].startswith("Z"))


def test_memory_limit_cgroup(cpi, make_vm, client_key):
    vm = make_vm(cloud_properties={"memory": 96})
    group = Path(f"/sys/fs/cgroup/memory/bosh-py/{cpi.prefix}-{vm.cid}")
    assert int((group / "memory.limit_in_bytes").read_text()) == 96 * 1024 * 1024
    # A process started over SSH, found on the host by its PID inside the VM, is in the group.
    vm_pid = int(ssh(vm, client_key, "nohup sleep 60 >/dev/null 2>&1 & echo $!").strip())

    def sleep_in_group() -> bool:
        # $! is the forked shell: under load it may not have exec'd nohup/sleep yet
        in_group = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        return any(_pid_in_vm(pid) == vm_pid and "sleep" in _cmdline(pid) for pid in in_group)

    assert wait_for(sleep_in_group, timeout=10), (vm_pid, (group / "cgroup.procs").read_text())
    cpi.ok("delete_vm", vm.cid)
    assert not group.exists()


def _cmdline(host_pid: int) -> str:
    try:
        return Path(f"/proc/{host_pid}/cmdline").read_text()
    except OSError:
        return ""


def _pid_in_vm(host_pid: int) -> int | None:
    """The PID a host process has in its innermost PID namespace (last NSpid field)."""
    try:
        status = Path(f"/proc/{host_pid}/status").read_text()
    except OSError:
        return None
    return int(next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[-1])


def test_cleanup_command_removes_running_vms(cpi, make_vm):
    vm = make_vm()
    listed = json.loads(cpi.command("list", "--json").stdout)
    assert vm.cid in [entry["cid"] for entry in listed["vms"]]
    done = cpi.command("cleanup")
    assert done.returncode == 0, done.stderr
    assert cpi.ok("has_vm", vm.cid) is False
    assert cpi.our_netns() == [] and cpi.our_links() == []
    assert cpi.our_mounts() == []


def test_cleanup_finds_leftovers_by_name(cpi, make_vm):
    """What a CPI killed mid-call could leave: objects with our names but no state."""
    make_vm()  # makes sure the root and bridge exist
    stray = "deadbeef00"
    subprocess.run(["ip", "netns", "add", f"{cpi.prefix}-vm-{stray}"], check=True)
    subprocess.run(["ip", "link", "add", f"{cpi.prefix}h{stray}", "type", "veth",
                    "peer", "name", f"{cpi.prefix}p{stray}"], check=True)
    group = Path(f"/sys/fs/cgroup/memory/bosh-py/{cpi.prefix}-vm-{stray}")
    group.mkdir(parents=True)
    target = cpi.root / "vms" / f"vm-{stray}" / "disks"
    target.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(target), str(target)], check=True)
    listed = json.loads(cpi.command("list", "--json").stdout)
    assert f"{cpi.prefix}-vm-{stray}" in listed["stray_netns"]
    assert f"{cpi.prefix}h{stray}" in listed["stray_links"]
    assert str(group) in listed["stray_cgroups"]
    assert str(target) in listed["mounts"]

    done = cpi.command("cleanup")
    assert done.returncode == 0, done.stderr
    assert cpi.our_netns() == [] and cpi.our_links() == [] and cpi.our_mounts() == []
    assert not group.exists() and not (cpi.root / "vms" / f"vm-{stray}").exists()


def test_parallel_creates(cpi, make_vm):
    """The director creates VMs max_in_flight at a time: four CPI processes at once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        vms = list(pool.map(lambda _i: make_vm(), range(4)))
    assert len({vm.ip for vm in vms}) == 4
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda vm: cpi.ok("delete_vm", vm.cid), vms))
    assert cpi.our_netns() == []


def test_the_bridge_keeps_its_own_mac_whatever_vms_come_and_go(cpi, make_vm):
    """Without a MAC of its own a bridge takes its ports' lowest, so deleting the VM whose veth
    had it moved the gateway's MAC under every other VM (their traffic to NATS lost until
    their ARP entries expired: healthy VMs taken for dead by the health monitor, as
    test_libcloud_ec2 and test_runtime_config_vms saw under load). Set explicitly, it stays."""
    sysfs = Path(f"/sys/class/net/{cpi.bridge}")
    first, second, third = make_vm(), make_vm(), make_vm()
    pinned = mac_of(f"{cpi.subnet}.1")
    assert (sysfs / "address").read_text().strip() == pinned
    assert (sysfs / "addr_assign_type").read_text().strip() == "3"  # NET_ADDR_SET: never recomputed
    for vm in (first, second):
        cpi.ok("delete_vm", vm.cid)
        assert (sysfs / "address").read_text().strip() == pinned
    assert third.cid and (sysfs / "address").read_text().strip() == pinned
