"""The local CPI on cgroup v1 and cgroup v2 hosts: limits (memory, pids, cgroups: true) are
cgroup v1 files, so a v2 host (Debian 12's default) refuses them at once, naming the boot
option that brings v1 back; a VM without them needs no cgroup at all."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from cpi.local.cgroups import controller_mounts, require_v1
from cpi.local.errors import VMCreationFailed
from tests.cpi.support import needs_root

V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/pids rw,relatime shared:9 - cgroup cgroup rw,pids
37 31 0:34 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2 = """\
29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
ROOT = Path("/sys/fs/cgroup")


def test_the_mounts_under_the_cgroup_root_are_read_with_their_type():
    assert controller_mounts(V1, ROOT) == {"/sys/fs/cgroup/memory": "cgroup", "/sys/fs/cgroup/pids": "cgroup",
                                           "/sys/fs/cgroup/unified": "cgroup2"}
    assert controller_mounts(V2, ROOT) == {"/sys/fs/cgroup": "cgroup2"}


def test_a_v1_host_gives_limits_and_a_v2_host_refuses_them_naming_the_fix():
    require_v1(ROOT, {"memory": 512, "cgroups": True}, V1)
    with pytest.raises(VMCreationFailed) as refused:
        require_v1(ROOT, {"memory": 512, "cgroups": True}, V2)
    message = str(refused.value)
    assert "cloud_properties.memory, cloud_properties.cgroups need cgroup v1 controllers" in message
    assert "cgroup v2 (unified)" in message and "systemd.unified_cgroup_hierarchy=0" in message


def test_without_limits_no_cgroup_is_needed_on_either_host():
    require_v1(ROOT, {}, V2)
    require_v1(ROOT, {"cgroups": False}, V2)


def test_a_v1_host_without_the_pids_controller_says_so():
    memory_only = "\n".join(line for line in V1.splitlines() if "/pids" not in line)
    with pytest.raises(VMCreationFailed, match=r"cloud_properties.pids need the cgroup v1 pids controller"):
        require_v1(ROOT, {"pids": 100}, memory_only)


@needs_root
def test_create_vm_on_a_v2_hierarchy_is_refused_at_once_and_makes_nothing(cpi, stemcell_cid, tmp_path):
    """A real cgroup2 file system as the CPI's cgroup root (what a Debian 12 host has)."""
    unified = tmp_path / "cgroup2"
    unified.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "none", str(unified)], check=True)
    try:
        config = tmp_path / "v2.json"
        config.write_text(json.dumps({**json.loads(cpi.config_path.read_text()), "cgroup_root": str(unified)}))
        before = sorted(p.name for p in (cpi.root / "vms").iterdir()) if (cpi.root / "vms").exists() else []
        started = time.monotonic()
        response = cpi.call("create_vm", "agent-v2", stemcell_cid, {"memory": 256}, cpi.networks(230), [], {},
                            config_path=config)
        assert time.monotonic() - started < 10
        assert response["error"]["type"] == "VMCreationFailed"
        assert "systemd.unified_cgroup_hierarchy=0" in response["error"]["message"]
        after = sorted(p.name for p in (cpi.root / "vms").iterdir()) if (cpi.root / "vms").exists() else []
        assert after == before
        assert list(unified.glob("bosh-py*")) == []
    finally:
        subprocess.run(["umount", str(unified)], check=False)
