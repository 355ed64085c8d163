"""Block devices as the guest kernel names them, played inside a namespace VM.

On EC2 the hypervisor makes an attached volume appear in the guest: a Xen instance shows
the device name asked for, ``/dev/sdf``, as ``/dev/xvdf``; a Nitro instance shows each EBS
volume as the next NVMe namespace ``/dev/nvme<N>n1`` (``nvme0n1`` is the root volume)
and udev links ``/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<volume id without the
dash>`` to it. A namespace VM has no block devices and its root cannot mknod, so the
harness plays the hypervisor: the local CPI's attach_disk makes the disk visible in the VM
as a directory, and these links, made in the VM's own /dev (a tmpfs in its mount
namespace, entered with its user namespace, as the VM's root: host root owns no uid
there), point at it under the name the guest would see.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

XEN_FAMILIES = frozenset({"t1", "t2", "m1", "m2", "m3", "m4", "c1", "c3", "c4", "r3", "r4",
                          "i2", "i3", "x1", "d2", "g2", "p2"})
NVME_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"
DEVICE_NAME = re.compile(r"^/dev/(sd|xvd)([f-p])$")


def is_nitro(instance_type: str) -> bool:
    """Nitro instances (t3, m5, c6i …) show EBS volumes as NVMe; older Xen ones do not."""
    return instance_type.split(".")[0] not in XEN_FAMILIES


@dataclass(frozen=True)
class GuestDevice:
    """The links one attached volume has in the guest's /dev: (link, target) pairs."""

    links: tuple[tuple[str, str], ...]

    @property
    def paths(self) -> list[str]:
        return [link for link, _ in self.links]


def guest_device(instance_type: str, device_name: str, volume_id: str, nvme_index: int,
                 disk_path: str) -> GuestDevice:
    """How a volume attached as ``device_name`` shows in this instance type's guest."""
    if is_nitro(instance_type):
        namespace = f"/dev/nvme{nvme_index}n1"
        serial = volume_id.replace("-", "")
        return GuestDevice(((namespace, disk_path),
                            (NVME_BY_ID.format(serial=serial), f"../../nvme{nvme_index}n1")))
    match = DEVICE_NAME.match(device_name)
    if not match:
        raise ValueError(f"device name {device_name!r} is not /dev/sd[f-p]")
    return GuestDevice(((f"/dev/xvd{match.group(2)}", disk_path),))


def _in_vm(init_pid: int, script: str, *args: str) -> None:
    done = subprocess.run(["nsenter", "-t", str(init_pid), "-U", "-m", "--", "/bin/sh", "-c", script,
                           "sh", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"in VM (pid {init_pid}): {script}: {done.stderr.strip()}")


def plug(init_pid: int, device: GuestDevice) -> None:
    for link, target in device.links:
        _in_vm(init_pid, 'mkdir -p "$(dirname "$1")" && ln -sfn "$2" "$1"', link, target)


def unplug(init_pid: int, device: GuestDevice) -> None:
    for link, _ in reversed(device.links):
        _in_vm(init_pid, 'rm -f "$1"', link)


def init_pid(vm_dir: Path) -> int:
    """The VM's PID 1 as the local CPI records it (``<vm>/init.pid``: "pid starttime")."""
    return int((vm_dir / "init.pid").read_text().split()[0])
