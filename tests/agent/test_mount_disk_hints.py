"""mount_disk through a real agent with an EC2-style hint: the agent finds the disk the
hint names (here as a Xen instance shows /dev/sdf) and remembers the hint (needs root)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bosh_py.agent.mounts import is_mounted
from tests.agent.helpers import with_client

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")

VOLUME = "vol-0123456789abcdef0"


def test_ec2_hint_mounts_the_device_the_guest_kernel_named(agent):
    xvdf = agent.root / "dev/xvdf"  # a directory standing in for the block device
    xvdf.mkdir(parents=True)
    (xvdf / "on-disk.txt").write_text("persistent\n")
    store = agent.root / "var/vcap/store"
    hint = {"path": "/dev/sdf", "volume_id": VOLUME}
    try:
        async def go(client, nc):
            assert await client.mount_disk(VOLUME, hint) == {}
            return await client.list_disk()
        assert with_client(agent.nats, agent.agent_id, go) == [VOLUME]
        assert (store / "on-disk.txt").read_text() == "persistent\n"
        state = json.loads((agent.root / "var/vcap/bosh/agent_state.json").read_text())
        assert state["disks"][VOLUME] == {"hint": hint, "device": "/dev/xvdf"}

        async def unmount(client, nc):
            await client.unmount_disk(VOLUME)
        with_client(agent.nats, agent.agent_id, unmount)
        assert not is_mounted(store)
    finally:
        if is_mounted(store):
            subprocess.run(["umount", "-l", str(store)], check=False)


def test_after_a_reboot_the_agent_finds_the_volume_again_under_its_new_nvme_name(agent):
    """NVMe names follow attach order at boot, so the agent re-resolves the remembered hint
    (the volume id) rather than re-using the device path it mounted last time."""
    volume = "vol-0fedcba9876543210"
    by_id = agent.root / f"dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume.replace('-', '')}"
    first = agent.root / "dev/nvme1n1"
    first.mkdir(parents=True)
    (first / "on-disk.txt").write_text("survives reboots\n")
    by_id.parent.mkdir(parents=True, exist_ok=True)
    by_id.symlink_to("../../nvme1n1")
    store = agent.root / "var/vcap/store"
    try:
        async def mount(client, nc):
            await client.mount_disk(volume, {"path": "/dev/sdg", "volume_id": volume})
        with_client(agent.nats, agent.agent_id, mount)
        assert is_mounted(store)

        agent.stop()  # "reboot": the mount goes, and the volume comes back as nvme2n1
        subprocess.run(["umount", str(store)], check=True)
        first.rename(agent.root / "dev/nvme2n1")
        by_id.unlink()
        by_id.symlink_to("../../nvme2n1")
        agent.start()

        async def remounted(client, nc):
            await client.wait_until_ready(timeout=30)
            return await client.list_disk()
        assert with_client(agent.nats, agent.agent_id, remounted) == [volume]
        assert (store / "on-disk.txt").read_text() == "survives reboots\n"
    finally:
        if is_mounted(store):
            subprocess.run(["umount", "-l", str(store)], check=False)
