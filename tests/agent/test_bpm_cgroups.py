"""Which cgroup hierarchies bpm uses and what it says when there is none (no root: a
directory stands in for /sys/fs/cgroup; the VM test proves the kernel enforces them)."""

from __future__ import annotations

from pathlib import Path

from bosh_py.agent.bpm import cgroups
from bosh_py.agent.bpm.config import parse_bpm_config

LIMITED = """
processes:
- name: kv
  executable: /bin/true
  limits: {memory: 64M, processes: 10}
"""


def fake_v1(root: Path) -> None:
    for controller, marker in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max")):
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
        (root / controller / marker).write_text("max\n")


def test_v1_hierarchies_get_a_group_per_process(tmp_path):
    fake_v1(tmp_path)
    (kv,) = parse_bpm_config("kv", LIMITED)
    setup = cgroups.setup(kv, tmp_path)
    assert setup.groups == (tmp_path / "memory/bpm-kv-kv", tmp_path / "pids/bpm-kv-kv")
    assert (tmp_path / "memory/bpm-kv-kv/memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (tmp_path / "pids/bpm-kv-kv/pids.max").read_text() == "10"
    assert setup.pids_enforced and setup.warnings == ()
    cgroups.remove(kv, tmp_path)  # real cgroup dirs hold only kernel files; here: files, so it stays
    assert (tmp_path / "memory/bpm-kv-kv").exists()


def test_without_hierarchies_the_memory_limit_is_reported(tmp_path):
    (kv,) = parse_bpm_config("kv", LIMITED)
    setup = cgroups.setup(kv, tmp_path)
    assert setup.groups == () and not setup.pids_enforced  # processes: RLIMIT_NPROC instead
    assert setup.warnings == (("memory limit of kv/kv not enforced: this VM has no writable cgroup v1 "
                               "memory hierarchy (on the local CPI: cloud_properties.cgroups: true)"),)


def test_cgroup_v2_is_named(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    (kv,) = parse_bpm_config("kv", LIMITED)
    assert "cgroup v2, which bpm on bosh-py does not support yet" in cgroups.setup(kv, tmp_path).warnings[0]


def test_no_limits_no_groups(tmp_path):
    fake_v1(tmp_path)
    (kv,) = parse_bpm_config("kv", "processes: [{name: kv, executable: /bin/true}]")
    assert cgroups.setup(kv, tmp_path).groups == ()
    assert not (tmp_path / "memory/bpm-kv-kv").exists()
