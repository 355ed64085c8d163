"""The agent finds a persistent disk from the CPI's hint, against fake /dev and /sys trees:
local paths, EC2 device names as Xen renames them, and Nitro's NVMe namespaces found by
the EBS volume id (udev's by-id link, else the controller serial in sysfs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bosh_py.agent.disk_hints import (
    DiskHint,
    find_disk,
    parse_hint,
    resolve_in_root,
    wait_for_disk,
)
from bosh_py.agent.errors import AgentActionError

VOLUME = "vol-0a1b2c3d4e5f60718"


def device(root: Path, vm_path: str) -> Path:
    path = root / vm_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()  # a directory stands in for the block device: only its location matters here
    return path


def link(root: Path, vm_path: str, target: str) -> None:
    path = root / vm_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def nvme_serial(root: Path, name: str, serial: str) -> None:
    path = root / "sys/block" / name / "device"
    path.mkdir(parents=True)
    (path / "serial").write_text(serial.ljust(20) + "\n")  # sysfs pads the serial


@pytest.mark.parametrize("hint, expected", [
    ("/var/vcap/bosh/disks/disk-1", DiskHint("/var/vcap/bosh/disks/disk-1")),
    ({"path": "/dev/sdf"}, DiskHint("/dev/sdf")),
    ({"path": "/dev/sdf", "volume_id": VOLUME}, DiskHint("/dev/sdf", VOLUME)),
    ({"volume_id": VOLUME}, DiskHint(None, VOLUME)),
    ({"id": "2"}, DiskHint(scsi_unit="2")),
    ({"id": "15"}, DiskHint(scsi_unit="15")),
])
def test_hint_shapes(hint, expected):
    assert parse_hint(hint) == expected


@pytest.mark.parametrize("hint, says", [
    (None, "cannot use disk hint None"),
    (7, "cannot use disk hint 7"),
    ("dev/sdf", "'dev/sdf' is not an absolute path"),
    ({"path": 3}, "3 is not an absolute path"),
    ({"volume_id": "vol_x; rm -rf /"}, "is not an EBS volume id"),
    ({}, "neither a path nor a volume_id"),
    ({"id": "7"}, "is not a SCSI unit"),
    ({"id": "../../sda"}, "is not a SCSI unit"),
    ({"id": 2}, "is not a SCSI unit"),
    ({"id": "2", "path": "/dev/sdb"}, "mixes a SCSI unit with a path"),
])
def test_bad_hints_are_named(hint, says):
    with pytest.raises(AgentActionError, match="mount_disk: .*" + says.replace("(", r"\(")[:25]):
        parse_hint(hint)


def test_local_cpi_path(tmp_path):
    disk = device(tmp_path, "/var/vcap/bosh/disks/disk-1")
    assert find_disk(parse_hint("/var/vcap/bosh/disks/disk-1"), tmp_path) == disk


def test_ec2_device_name_as_xen_names_it(tmp_path):
    disk = device(tmp_path, "/dev/xvdf")
    device(tmp_path, "/dev/xvdg")
    assert find_disk(parse_hint("/dev/sdf"), tmp_path) == disk
    assert find_disk(parse_hint({"path": "/dev/sdf", "volume_id": VOLUME}), tmp_path) == disk


def test_nitro_volume_by_udev_id_link_wins_over_the_device_name(tmp_path):
    """On Nitro /dev/sdf may not exist or be another disk: the volume id decides."""
    device(tmp_path, "/dev/sdf")                      # e.g. udev's compat link for another volume
    ours = device(tmp_path, "/dev/nvme2n1")
    link(tmp_path, f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{VOLUME.replace('-', '')}",
         "../../nvme2n1")
    assert find_disk(parse_hint({"path": "/dev/sdf", "volume_id": VOLUME}), tmp_path) == ours


def test_nitro_volume_by_sysfs_serial_without_udev(tmp_path):
    device(tmp_path, "/dev/nvme0n1")
    nvme_serial(tmp_path, "nvme0n1", "vol0ffffffffffffffff")
    ours = device(tmp_path, "/dev/nvme1n1")
    nvme_serial(tmp_path, "nvme1n1", VOLUME.replace("-", ""))
    assert find_disk(parse_hint({"path": "/dev/sdf", "volume_id": VOLUME}), tmp_path) == ours


def test_absolute_links_resolve_inside_the_vm_root_not_on_the_host(tmp_path):
    ours = device(tmp_path, "/var/vcap/bosh/disks/d1")
    link(tmp_path, "/dev/nvme1n1", "/var/vcap/bosh/disks/d1")
    link(tmp_path, f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{VOLUME.replace('-', '')}",
         "/dev/nvme1n1")
    assert resolve_in_root(tmp_path, "/dev/nvme1n1") == ours
    assert find_disk(parse_hint({"volume_id": VOLUME}), tmp_path) == ours
    link(tmp_path, "/dev/sdz", "/etc")  # exists on the host, not in this root
    assert resolve_in_root(tmp_path, "/dev/sdz") is None


def test_link_loop_is_an_error_not_a_hang(tmp_path):
    link(tmp_path, "/dev/a", "/dev/b")
    link(tmp_path, "/dev/b", "/dev/a")
    with pytest.raises(AgentActionError, match="too many symbolic links"):
        resolve_in_root(tmp_path, "/dev/a")


def test_waits_for_the_attachment_to_appear(tmp_path):
    naps: list[float] = []

    def attach_during_nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            device(tmp_path, "/dev/xvdf")

    found = wait_for_disk(parse_hint("/dev/sdf"), tmp_path, timeout=30, sleep=attach_during_nap)
    assert found == tmp_path / "dev/xvdf" and len(naps) == 2


def test_missing_disk_names_every_place_looked_at(tmp_path):
    with pytest.raises(AgentActionError) as error:
        wait_for_disk(parse_hint({"path": "/dev/sdf", "volume_id": VOLUME}), tmp_path, timeout=0)
    message = str(error.value)
    for place in ("/dev/sdf", "/dev/xvdf", "/dev/vdf",
                  "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0a1b2c3d4e5f60718"):
        assert place in message


def scsi_disk(root: Path, address: str, block: str) -> None:
    (root / "sys/bus/scsi/devices" / address / "block" / block).mkdir(parents=True)


def test_vsphere_scsi_unit_is_found_by_address_not_by_letter(tmp_path):
    # the system disk at unit 0, the ephemeral at 1, the persistent at 2; the kernel probed
    # the persistent disk first, so its letter (sdb) says nothing about its unit
    scsi_disk(tmp_path, "2:0:0:0", "sda")
    scsi_disk(tmp_path, "2:0:1:0", "sdc")
    scsi_disk(tmp_path, "2:0:2:0", "sdb")
    scsi_disk(tmp_path, "3:0:2:1", "sdd")  # another LUN: not ours
    disk = device(tmp_path, "/dev/sdb")
    device(tmp_path, "/dev/sdc")
    assert find_disk(parse_hint({"id": "2"}), tmp_path) == disk


def test_vsphere_scsi_unit_not_yet_visible_names_the_unit(tmp_path):
    scsi_disk(tmp_path, "2:0:0:0", "sda")
    device(tmp_path, "/dev/sda")
    with pytest.raises(AgentActionError, match=r"SCSI unit 3 .*devices/\*:0:3:0/block"):
        wait_for_disk(parse_hint({"id": "3"}), tmp_path, timeout=0, sleep=lambda _s: None)
