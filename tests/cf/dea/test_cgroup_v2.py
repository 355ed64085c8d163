"""The DEA on a real cgroup2 file system (mounted under tmp for the test, as
tests/cpi/test_cgroup_hosts.py does, and removed after): detection, the refusal naming
what to change when the tree lacks memory and pids, and the containers' groups: an app
process lands in its own group, the group goes with the container, leftovers of a killed
DEA are found and removed.

On a host that binds memory and pids to cgroup v1 (this repository's test machine: the
kernel cannot hand them to v2 while v1 holds them) the v2 tree offers neither, so the
DEA must refuse; the limits themselves are then tested where a v2 tree offers them
(``test_limits_land_in_the_v2_files``, skipped otherwise)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest
from cf_platform.dea import cgroup_layout, cgroups
from cf_platform.dea.cgroups import CgroupError, CgroupSet
from cf_platform.dea.config import DeaConfig
from cf_platform.dea.container import Container, ContainerSpec

from tests.harness import wait_until

from .conftest import needs_root
from .helpers import CGROUP_ROOT, pid_alive

pytestmark = [needs_root]
REQUIRED = {"memory", "pids"}


@pytest.fixture
def unified(tmp_path):
    """(mount point, parent name): a cgroup2 mount of this host's unified tree with a
    test-named parent in it. Every group the test made (new top-level groups holding the
    parent's name anywhere, wherever a broken version put them) and every process in them
    is removed; then the mount."""
    point = tmp_path / "cgroup2"
    point.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "none", str(point)], check=True)
    parent = f"dea-test-{secrets.token_hex(4)}"
    before = {p.name for p in point.iterdir() if p.is_dir()}
    try:
        yield point, parent
    finally:
        ours = [p for p in point.iterdir() if p.is_dir() and p.name not in before
                and (p.name == parent or any(parent in dirs for _d, dirs, _f in os.walk(p)))]
        groups = sorted((Path(d) for top in ours for d, _n, _f in os.walk(top)), key=lambda p: len(p.parts),
                        reverse=True)
        for group in groups:
            for pid in (group / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)   # only processes this test put there
            wait_until(lambda group=group: not (group / "cgroup.procs").read_text().split(), 5, message=f"{group} empty")
            wait_until(lambda group=group: _rmdir(group), 5, message=f"{group} removed")
        subprocess.run(["umount", str(point)], check=True)


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def offered(point: Path) -> set[str]:
    return set((point / "cgroup.controllers").read_text().split())


def unified_line(pid: int | str) -> str:
    """The process's group in the unified tree, from its /proc/<pid>/cgroup."""
    return next(line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.startswith("0::"))


def dea_config(tmp_path: Path, root: Path, parent: str) -> DeaConfig:
    return DeaConfig.from_dict({"ip": "10.0.0.5", "base_dir": str(tmp_path / "data"), "cgroup_root": str(root),
                                "cgroup_parent": parent, "nats": {"servers": "nats://10.0.0.1:4222"}})


def container_spec(tmp_path: Path, name: str, command: str) -> ContainerSpec:
    directory = tmp_path / name
    directory.mkdir()
    return ContainerSpec(instance_id=name, directory=directory, uid=41990, mem_mb=64, fds=256, pids_max=64,
                         env={}, argv=("/bin/sh", "-c", command), workdir="/")


async def _inspect_running(container: Container) -> dict:
    """Start, wait for the app to print its own group, read the group from outside, then
    kill and destroy the container as the DEA does."""
    await container.start()
    stdout = container.spec.logs_dir / "stdout.log"
    try:
        for _ in range(200):
            if stdout.exists() and "0::" in stdout.read_text():
                break
            await asyncio.sleep(0.05)
        group = container.cgroups.paths[0]
        seen = {"inside": next(line for line in stdout.read_text().splitlines() if line.startswith("0::")),
                "procs": container.cgroups.procs(), "paths": container.cgroups.paths,
                "files": {name: (group / name).read_text().strip()
                          for name in ("memory.max", "pids.max", "cpu.weight", "memory.swap.max")
                          if (group / name).exists()},
                "usage": container.usage()}
        seen["outside"] = {unified_line(pid) for pid in seen["procs"]}
        return seen
    finally:
        await container.kill()
        container.destroy()


def test_a_real_cgroup2_mount_is_detected_as_v2_and_the_hosts_root_as_it_is(unified):
    point, parent = unified
    assert cgroup_layout.read(point).kind == cgroup_layout.V2
    assert CgroupSet(point, parent, "x").unified
    host = cgroup_layout.read(CGROUP_ROOT)
    assert (host.kind == cgroup_layout.V2) == CgroupSet(CGROUP_ROOT, parent, "x").unified
    assert host.kind in (cgroup_layout.V1, cgroup_layout.HYBRID, cgroup_layout.V2)


def test_a_dea_on_a_v2_tree_without_memory_and_pids_refuses_naming_the_fix(unified, tmp_path):
    from cf_platform.dea.agent import Dea as DeaAgent
    point, parent = unified
    if REQUIRED <= offered(point):
        pytest.skip("this kernel offers memory and pids on cgroup v2")
    agent = DeaAgent(dea_config(tmp_path, point, parent))
    with pytest.raises(RuntimeError) as refused:
        agent.prepare_host()
    message = str(refused.value)
    missing = " and ".join(c for c in ("memory", "pids") if c not in offered(point))
    assert message.startswith(f"cgroups are required but unusable: {point} is a cgroup v2 group without the "
                              f"{missing} controller"), message
    if "memory" in cgroup_layout.read(point).v1_points:   # a hybrid host, as this test machine
        assert "set cgroup_root to /sys/fs/cgroup, or boot the host with systemd.unified_cgroup_hierarchy=1" in message
    else:
        assert "Delegate=yes" in message
    assert agent.manager is None
    assert not (point / parent).exists()   # refused before making anything


def test_creating_limits_on_a_tree_without_the_controllers_fails_clearly_and_leaves_nothing(unified):
    point, parent = unified
    if REQUIRED <= offered(point):
        pytest.skip("this kernel offers memory and pids on cgroup v2")
    (point / parent).mkdir()
    group = CgroupSet(point, parent, "app-1")
    with pytest.raises(CgroupError) as failed:
        group.create(64 * 1024 * 1024, 64)
    assert str(failed.value) == (f"cannot create cgroups for app-1 under {point}: {point / parent / 'app-1'}/"
                                 f"memory.max does not exist: the memory controller is not enabled for "
                                 f"{point / parent}'s children")
    assert not group.exists()


class LeafWithoutLimits(CgroupSet):
    """Only the leaf, no limit files: where this kernel keeps memory and pids on v1, this
    still tests the real container moving its app into a v2 group and the group's removal."""

    def create(self, memory_bytes: int, pids_max: int) -> None:
        self.paths[0].mkdir()


def test_a_container_app_lands_in_its_own_v2_group_and_the_group_goes_with_it(unified, tmp_path):
    point, parent = unified
    (point / parent).mkdir()
    group = LeafWithoutLimits(point, parent, "app-1")
    seen = asyncio.run(_inspect_running(Container(
        container_spec(tmp_path, "app-1", "cat /proc/self/cgroup; exec sleep 30"), group)))
    assert seen["paths"] == [point / parent / "app-1"]   # one group for every controller
    assert seen["inside"] == f"0::/{parent}/app-1"        # what the app itself sees
    assert seen["procs"] and seen["outside"] == {f"0::/{parent}/app-1"}
    assert not group.exists() and all(not pid_alive(pid) for pid in seen["procs"])


def test_limits_land_in_the_v2_files(unified, tmp_path):
    point, parent = unified
    if not REQUIRED <= offered(point):
        pytest.skip("this kernel binds memory and pids to cgroup v1: the v2 tree cannot carry their files")
    assert cgroups.usable(point, parent) is None
    assert REQUIRED <= set((point / parent / "cgroup.subtree_control").read_text().split())
    group = CgroupSet(point, parent, "app-1")
    seen = asyncio.run(_inspect_running(Container(
        container_spec(tmp_path, "app-1", "cat /proc/self/cgroup; exec sleep 30"), group)))
    assert seen["files"]["memory.max"] == str(64 * 1024 * 1024) and seen["files"]["pids.max"] == "64"
    if "cpu" in offered(point):
        assert seen["files"]["cpu.weight"] == "6"    # 64 MB of the 1 GiB that gets the default 100
    if "memory.swap.max" in seen["files"]:
        assert seen["files"]["memory.swap.max"] == "0"
    assert seen["inside"] == f"0::/{parent}/app-1" and seen["outside"] == {f"0::/{parent}/app-1"}
    assert seen["usage"]["mem"] > 0
    assert not group.exists()
    cgroups.remove_parent(point, parent)
    assert not (point / parent).exists()


def test_a_killed_deas_v2_groups_are_found_and_removed_with_their_processes(unified):
    """What ``Dea.prepare_host`` does first: containers of a DEA killed with -9 died with it
    (PDEATHSIG), but a straggler may remain in a group; the group and it go."""
    point, parent = unified
    (point / parent / "old-instance").mkdir(parents=True)
    straggler = subprocess.Popen(["sleep", "60"])
    try:
        (point / parent / "old-instance" / "cgroup.procs").write_text(str(straggler.pid))
        assert unified_line(straggler.pid) == f"0::/{parent}/old-instance"
        [left] = cgroups.leftovers(point, parent)
        assert (left.name, left.unified, left.procs()) == ("old-instance", True, [straggler.pid])
        left.destroy()
        assert straggler.wait(5) == -signal.SIGKILL
        assert not left.exists()
        cgroups.remove_parent(point, parent)
        assert not (point / parent).exists()
    finally:
        if straggler.poll() is None:
            straggler.kill()
            straggler.wait()
