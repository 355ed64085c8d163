"""Root in a VM is not root on the host: each test attacks from inside a real VM, as its root
over SSH, what a VM's root could reach when VMs had no user namespace; then checks that a
``cgroups: true`` VM (a DEA) can still do what making containers takes."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from tests.cpi.support import ssh

pytestmark = pytest.mark.vm


def vm_python(vm, client_key, script: str) -> dict:
    """Run ``script`` with the VM's python3 as the VM's root; it prints one JSON object."""
    return json.loads(ssh(vm, client_key, f"python3 -c {shlex.quote(script)}"))


def host_disk() -> tuple[int, int]:
    """Major/minor of the block device holding the host's root file system."""
    device = os.stat("/").st_dev
    if os.major(device) != 0:
        return os.major(device), os.minor(device)
    first = Path("/proc/partitions").read_text().splitlines()[2].split()
    return int(first[0]), int(first[1])


def test_vm_root_is_an_unprivileged_host_user(cpi, make_vm, client_key):
    vm = make_vm()
    base = 1_000_000  # the CPI's default id_base
    assert ssh(vm, client_key, "cat /proc/self/uid_map").split() == ["0", str(base), "65536"]
    init_pid = int((cpi.root / "vms" / vm.cid / "init.pid").read_text().split()[0])
    status = Path(f"/proc/{init_pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(base)] * 4  # seen from the host, the VM's PID 1 is not root
    user_ns = os.readlink(f"/proc/{init_pid}/ns/user")
    assert user_ns != os.readlink("/proc/self/ns/user")
    for kind in ("net", "mnt", "pid", "uts", "ipc", "cgroup"):
        assert os.readlink(f"/proc/{init_pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")
    netns = json.loads((cpi.root / "vms" / vm.cid / "state.json").read_text())["netns"]
    assert os.stat(f"/run/netns/{netns}").st_ino == os.stat(f"/proc/{init_pid}/ns/net").st_ino

    cpi.ok("reboot_vm", vm.cid)  # a new boot: new namespaces, the same name for its netns
    rebooted = int((cpi.root / "vms" / vm.cid / "init.pid").read_text().split()[0])
    assert rebooted != init_pid
    assert os.readlink(f"/proc/{rebooted}/ns/user") != os.readlink("/proc/self/ns/user")
    assert os.stat(f"/run/netns/{netns}").st_ino == os.stat(f"/proc/{rebooted}/ns/net").st_ino
    assert ssh(vm, client_key, "cat /proc/self/uid_map").split() == ["0", str(base), "65536"]


def test_vm_root_cannot_write_host_sysctls(make_vm, client_key):
    vm = make_vm()
    before = {name: Path(f"/proc/sys/{name}").read_text() for name in ("kernel/core_pattern", "vm/swappiness")}
    result = vm_python(vm, client_key, """
import json
result = {}
for name in ("kernel/core_pattern", "vm/swappiness"):
    path = "/proc/sys/" + name
    value = open(path).read()
    try:
        with open(path, "w") as f:
            f.write(value)  # the same value: harmless on a host where this succeeds
        result[name] = "written"
    except OSError as error:
        result[name] = "refused errno %d" % error.errno
print(json.dumps(result))
""")
    assert all(outcome.startswith("refused") for outcome in result.values()), result
    assert {name: Path(f"/proc/sys/{name}").read_text() for name in before} == before


def test_vm_root_cannot_make_or_open_host_devices(make_vm, client_key):
    vm = make_vm()
    major, minor = host_disk()
    result = vm_python(vm, client_key, f"""
import json, os, stat
result = {{}}
for name, kind, major, minor in (("disk", stat.S_IFBLK, {major}, {minor}), ("kmsg", stat.S_IFCHR, 1, 11)):
    path = "/root/" + name  # the overlay root: no nodev there
    try:
        os.mknod(path, kind | 0o600, os.makedev(major, minor))
    except OSError as error:
        result[name] = "mknod refused errno %d" % error.errno
        continue
    try:
        with open(path, "rb") as device:
            device.read(1)
        result[name] = "opened"
    except OSError as error:
        result[name] = "made, open refused errno %d" % error.errno
print(json.dumps(result))
""")
    assert result == {"disk": "mknod refused errno 1", "kmsg": "mknod refused errno 1"}


def test_vm_root_cannot_load_kernel_modules(make_vm, client_key):
    vm = make_vm()
    # A kernel built without modules answers ENOSYS to anyone; the bounding set is then
    # what shows the difference.
    refused = 1 if Path("/proc/modules").exists() else 38
    result = vm_python(vm, client_key, """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
result = {}
# init_module(image, 0, "") and finit_module(fd, "", 0): nothing here is a module; the
# question is whether the kernel checks CAP_SYS_MODULE first (EPERM) or reads the image.
if libc.syscall(175, ctypes.c_char_p(b""), ctypes.c_ulong(0), ctypes.c_char_p(b"")) != 0:
    result["init_module"] = ctypes.get_errno()
fd = os.open("/etc/hostname", os.O_RDONLY)
if libc.syscall(313, fd, ctypes.c_char_p(b""), 0) != 0:
    result["finit_module"] = ctypes.get_errno()
status = {l.split(":")[0]: int(l.split()[1], 16) for l in open("/proc/self/status") if l.startswith("Cap")}
result["cap_sys_module"] = {name: bool(value & (1 << 16)) for name, value in status.items()}
print(json.dumps(result))
""")
    assert result == {"init_module": refused, "finit_module": refused,
                      "cap_sys_module": {"CapInh": False, "CapPrm": False, "CapEff": False,
                                         "CapBnd": False, "CapAmb": False}}


def test_vm_sees_none_of_the_host_mounts(cpi, make_vm, client_key):
    vm = make_vm(cloud_properties={"cgroups": True})  # with the host's cgroup groups bound in
    mountinfo = ssh(vm, client_key, "cat /proc/self/mountinfo /proc/1/mountinfo")
    assert mountinfo.strip()
    for host_path in (str(cpi.root), "/var/lib/bosh-py", "/work", str(Path(__file__).parent), "bosh-py/"):
        assert host_path not in mountinfo, f"{host_path} shows in the VM's mountinfo:\n{mountinfo}"
    points = {line.split()[4] for line in mountinfo.splitlines()}
    assert "/" in points and "/proc" in points
    assert not points & {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/systemd", "/boot", "/run/netns"}


def test_a_delegated_vm_can_still_make_containers(cpi, make_vm, client_key):
    """What the DEA does for an app container: a memory cgroup with a process moved into
    it, a network namespace with a veth pair into it, forwarding and nftables NAT in its
    own network namespace, a tmpfs, /proc in a new PID namespace, and port 80."""
    vm = make_vm(cloud_properties={"cgroups": True})
    out = ssh(vm, client_key, " && ".join([
        "mkdir /sys/fs/cgroup/memory/app",
        "echo 33554432 > /sys/fs/cgroup/memory/app/memory.limit_in_bytes",
        "sh -c 'echo $$ > /sys/fs/cgroup/memory/app/cgroup.procs; grep memory /proc/self/cgroup'",
        "rmdir /sys/fs/cgroup/memory/app",
        "unshare --net sleep 30 & sleep 0.3",
        "ip link add va type veth peer name vb netns $!",
        "nsenter -t $! -n ip -o link show vb | cut -d: -f2",
        "kill $!",
        "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward",
        "nft add table inet probe && nft add chain inet probe c '{ type nat hook prerouting priority 0; }' "
        "&& nft delete table inet probe && echo nft-ok",
        "mount -t tmpfs scratch /mnt && touch /mnt/x && umount /mnt && echo tmpfs-ok",
        "unshare --pid --fork --mount --mount-proc sh -c 'echo pid-$$'",
        "python3 -c 'import socket; socket.socket().bind((\"0.0.0.0\", 80)); print(\"port80-ok\")'",
    ]))
    lines = out.split()
    assert lines[0].endswith(":memory:/delegated/app"), out  # seen from its own cgroup namespace
    assert lines[1].startswith("vb@"), out  # the peer, inside the new namespace
    assert lines[2:] == ["1", "nft-ok", "tmpfs-ok", "pid-1", "port80-ok"], out
