"""cloud_properties.cgroups: a VM gets its own memory and pids subtrees, writable at
/sys/fs/cgroup/{memory,pids}, bounded by its own (host-side) groups; without it, the VM's
/sys is read-only and it can make no cgroup."""

from __future__ import annotations

from pathlib import Path

from tests.cpi.support import needs_root, ssh

pytestmark = needs_root

TRY_MKDIR = "mkdir /sys/fs/cgroup/memory/t 2>/dev/null && echo made || echo refused"


def test_delegated_cgroups_are_writable_and_enforced(cpi, make_vm, client_key):
    vm = make_vm(cloud_properties={"cgroups": True, "memory": 512})
    host = {c: Path(f"/sys/fs/cgroup/{c}/bosh-py/{cpi.prefix}-{vm.cid}") for c in ("memory", "pids")}
    assert int((host["memory"] / "memory.limit_in_bytes").read_text()) == 512 * 1024 * 1024
    assert (host["pids"] / "delegated").is_dir()  # made even without a pids limit

    out = ssh(vm, client_key, " && ".join([
        TRY_MKDIR,
        "echo 67108864 > /sys/fs/cgroup/memory/t/memory.limit_in_bytes",
        "cat /sys/fs/cgroup/memory/t/memory.limit_in_bytes",
        "mkdir /sys/fs/cgroup/pids/t", "echo 16 > /sys/fs/cgroup/pids/t/pids.max", "cat /sys/fs/cgroup/pids/t/pids.max"]))
    assert out.split() == ["made", "67108864", "16"]
    assert (host["memory"] / "delegated" / "t" / "memory.limit_in_bytes").read_text() == "67108864\n"

    # the limit is enforced: a process in the child group is OOM-killed past 64 MB
    out = ssh(vm, client_key, "sh -c 'echo $$ > /sys/fs/cgroup/memory/t/cgroup.procs; "
                              "exec python3 -c \"b = bytearray(300 * 1024 * 1024)\"'; echo status $?")
    assert out.split()[-2:] == ["status", "137"]
    assert "oom_kill 1" in (host["memory"] / "delegated" / "t" / "memory.oom_control").read_text()

    cpi.ok("delete_vm", vm.cid)  # removes the VM's groups with everything made inside them
    assert not host["memory"].exists() and not host["pids"].exists()


def test_without_delegation_the_vm_cannot_make_cgroups(make_vm, client_key):
    vm = make_vm()
    assert ssh(vm, client_key, TRY_MKDIR).strip() == "refused"


def test_cgroups_property_must_be_boolean(cpi, stemcell_cid):
    response = cpi.call("create_vm", "agent-1", stemcell_cid, {"cgroups": "yes"}, cpi.networks(250), [], {})
    assert response["error"]["type"] == "VMCreationFailed"
    assert "cloud_properties.cgroups" in response["error"]["message"]
