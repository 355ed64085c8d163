"""The DEA tells cgroup layouts apart from /proc/self/mountinfo and /proc/self/cgroup (pure:
text in, layout out), maps v1 limits to v2 files, and names the file and line of anything
it cannot parse rather than guess where limits go."""

from __future__ import annotations

from pathlib import Path

import pytest
from cf_platform.dea import cgroups
from cf_platform.dea.cgroup_layout import (
    HYBRID,
    NONE,
    V1,
    V2,
    CgroupLayoutError,
    detect,
    parse_mountinfo,
)
from cf_platform.dea.cgroups_v2 import cpu_weight, limit_files, parse_flat_keyed
from cf_platform.dea.config import ConfigError, DeaConfig

ROOT = Path("/sys/fs/cgroup")
DEBIAN_11 = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 22 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
37 31 0:34 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:17 - cgroup cgroup rw,cpu,cpuacct
"""
HYBRID_HOST = DEBIAN_11 + "38 31 0:35 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"
DEBIAN_12 = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
# What a local-CPI DEA VM with cloud_properties {cgroups: true} mounts (cpi/local/vm_init.py):
# its delegated v1 groups bound on a small tmpfs, below a read-only sysfs.
LOCAL_CPI_VM = """\
600 599 0:60 / / rw,relatime - overlay overlay rw,lowerdir=/s,upperdir=/u,workdir=/w
601 600 0:61 / /sys ro,nosuid,nodev,noexec - sysfs sysfs ro
602 601 0:62 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=16k,mode=755
603 602 0:32 /bosh-py/bosh-py-ab12/delegated /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
604 602 0:33 /bosh-py/bosh-py-ab12/delegated /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
"""
LOCAL_CPI_VM_WITHOUT_CGROUPS = "\n".join(LOCAL_CPI_VM.splitlines()[:2]) + "\n"
V1_SELF = "5:pids:/dea.service\n4:memory:/dea.service\n1:name=systemd:/dea.service\n"
V2_SELF = "0::/system.slice/dea.service\n"


@pytest.mark.parametrize(("mountinfo", "proc_cgroup", "root", "kind"), [
    (DEBIAN_11, V1_SELF, ROOT, V1),
    (LOCAL_CPI_VM, "5:pids:/\n4:memory:/\n", ROOT, V1),
    (HYBRID_HOST, V1_SELF + "0::/dea.service\n", ROOT, HYBRID),
    (DEBIAN_12, V2_SELF, ROOT, V2),
    (DEBIAN_12, V2_SELF, ROOT / "dea.slice", V2),        # a group delegated to the DEA inside the tree
    (HYBRID_HOST, V1_SELF, ROOT / "unified", V2),         # the controller-less tree of a hybrid host
    (LOCAL_CPI_VM_WITHOUT_CGROUPS, "0::/\n", ROOT, NONE),
    (DEBIAN_12 + "40 29 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", V2_SELF, ROOT, NONE),  # mounted over
])
def test_each_layout_is_told_apart(mountinfo, proc_cgroup, root, kind):
    assert detect(root, mountinfo, proc_cgroup).kind == kind


def test_the_own_group_is_found_as_a_directory_of_the_unified_tree():
    assert detect(ROOT, DEBIAN_12, V2_SELF).own_dir() == ROOT / "system.slice/dea.service"
    assert detect(ROOT, DEBIAN_12, "0::/\n").own_dir() == ROOT
    # a tree mounted from below its root shows only what is below the mounted directory
    sub = "29 22 0:26 /system.slice /mnt/cg rw - cgroup2 cgroup2 rw\n"
    assert detect(Path("/mnt/cg"), sub, V2_SELF).own_dir() == Path("/mnt/cg/dea.service")
    assert detect(Path("/mnt/cg"), sub, "0::/user.slice/x\n").own_dir() is None
    assert detect(ROOT, DEBIAN_11, V1_SELF).own_dir() is None


def test_where_v1_holds_the_controllers_is_known_on_every_layout():
    layout = detect(ROOT / "unified", HYBRID_HOST, V1_SELF)
    assert layout.v1_points == {"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
                                "cpu": "/sys/fs/cgroup/cpu,cpuacct"}
    assert detect(ROOT, DEBIAN_12, V2_SELF).v1_points == {}


def test_escaped_mount_points_are_decoded():
    [mount] = parse_mountinfo("40 22 0:26 / /srv/my\\040cgroups rw - cgroup2 cgroup2 rw\n")
    assert mount.point == "/srv/my cgroups"
    assert detect(Path("/srv/my cgroups"), "40 22 0:26 / /srv/my\\040cgroups rw - cgroup2 cgroup2 rw\n",
                  "0::/\n").kind == V2


@pytest.mark.parametrize(("mountinfo", "line"), [
    ("29 22 0:26 / /sys/fs/cgroup rw cgroup2 cgroup2 rw\n", 1),           # no " - " separator
    (DEBIAN_12 + "30 29 0:27 /\n", 3),                                     # truncated
    ("x 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", 1),           # id not a number
    ("29 22 0:26 / relative rw - cgroup2 cgroup2 rw\n", 1),                # mount point not absolute
])
def test_a_malformed_mountinfo_names_the_file_and_line(mountinfo, line):
    with pytest.raises(CgroupLayoutError) as error:
        detect(ROOT, mountinfo, V2_SELF)
    assert str(error.value).startswith(f"/proc/self/mountinfo line {line}: expected 'id parent major:minor")


@pytest.mark.parametrize(("proc_cgroup", "line"), [
    ("0:/system.slice\n", 1),                  # one colon
    ("5:pids:/\nmemory:/x\n", 2),              # no hierarchy id
    ("0::system.slice\n", 1),                  # path not absolute
])
def test_a_malformed_proc_self_cgroup_names_the_file_and_line(proc_cgroup, line):
    with pytest.raises(CgroupLayoutError, match=rf"^/proc/self/cgroup line {line}: expected "
                                               r"'hierarchy-id:controllers:/path', got"):
        detect(ROOT, DEBIAN_12, proc_cgroup)


def test_a_dea_given_malformed_proc_files_refuses_naming_them(tmp_path):
    """``usable`` is what the DEA asks at start; its answer becomes the start failure."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text(DEBIAN_12)
    (proc / "cgroup").write_text("garbage\n")
    assert cgroups.usable(ROOT, "dea", proc=proc) == (
        f"{proc}/cgroup line 1: expected 'hierarchy-id:controllers:/path', got 'garbage'")
    (proc / "mountinfo").write_text("29 22 0:26\n")
    assert cgroups.usable(ROOT, "dea", proc=proc).startswith(f"{proc}/mountinfo line 1: expected")
    (proc / "cgroup").unlink()
    assert cgroups.usable(ROOT, "dea", proc=proc) == f"cannot read {proc}/cgroup: No such file or directory"


def test_no_cgroup_file_system_names_what_to_change(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text(LOCAL_CPI_VM_WITHOUT_CGROUPS)
    (proc / "cgroup").write_text("0::/\n")
    problem = cgroups.usable(ROOT, "dea", proc=proc)
    assert problem.startswith("no cgroup file system is mounted at /sys/fs/cgroup")
    assert "cloud_properties {cgroups: true}" in problem


@pytest.mark.parametrize(("memory_mb", "weight"), [(1024, 100), (256, 25), (4, 1), (1024 * 1024, 10000)])
def test_cpu_is_weighted_by_memory_within_v2s_range(memory_mb, weight):
    assert cpu_weight(memory_mb * 1024 * 1024) == weight


def test_v1_limits_map_to_v2_files():
    assert limit_files(128 * 1024 * 1024, 512, cpu=False) == {"memory.max": "134217728", "pids.max": "512"}
    assert limit_files(2048 * 1024 * 1024, 512, cpu=True)["cpu.weight"] == "200"


def test_memory_events_and_stat_are_read_as_key_value_lines():
    assert parse_flat_keyed("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n")["oom_kill"] == 1
    assert parse_flat_keyed("anon 4096\nfile 8192\nweird\n") == {"anon": 4096, "file": 8192}


@pytest.mark.parametrize("parent", ["", "/dea", "../dea", "dea/..", "dea//x", ".", 7])
def test_a_cgroup_parent_that_is_empty_or_escapes_the_root_is_refused(parent):
    """Every group below the parent counts as the DEA's leftovers, to be killed and removed."""
    with pytest.raises(ConfigError, match=r"^config: cgroup_parent: expected a relative group name below "
                                          r"cgroup_root \(like 'dea'\), got "):
        DeaConfig.from_dict({"ip": "10.0.0.5", "nats": {"servers": "nats://10.0.0.1:4222"}, "cgroup_parent": parent})
    assert DeaConfig.from_dict({"ip": "10.0.0.5", "nats": {"servers": "nats://10.0.0.1:4222"},
                                "cgroup_parent": "dea/apps"}).cgroup_parent == "dea/apps"
