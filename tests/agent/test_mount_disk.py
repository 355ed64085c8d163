"""mount_disk/unmount_disk/list_disk with a real bind mount (needs root)."""

from __future__ import annotations

import os
import subprocess

import pytest

from bosh_py.agent.mounts import is_mounted
from tests.agent.helpers import with_client

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def test_mount_and_unmount_a_disk(agent):
    disk = agent.root / "var/vcap/bosh/disks/disk-1"
    disk.mkdir(parents=True)
    (disk / "data.txt").write_text("persistent\n")
    store = agent.root / "var/vcap/store"
    try:
        async def go(client, nc):
            assert await client.list_disk() == []
            assert await client.mount_disk("disk-1", "/var/vcap/bosh/disks/disk-1") == {}
            assert await client.mount_disk("disk-1", "/var/vcap/bosh/disks/disk-1") == {}  # idempotent
            mounted = await client.list_disk()
            state = await client.get_state()
            assert "persistent" in state["vitals"]["disk"]
            (store / "written.txt").write_text("by job\n")
            await client.unmount_disk("disk-1")
            return mounted, await client.list_disk()
        mounted, after = with_client(agent.nats, agent.agent_id, go)
        assert mounted == ["disk-1"] and after == []
        assert not is_mounted(store)
        assert (disk / "written.txt").read_text() == "by job\n"
        assert not (store / "data.txt").exists()
    finally:
        if is_mounted(store):
            subprocess.run(["umount", "-l", str(store)], check=False)
