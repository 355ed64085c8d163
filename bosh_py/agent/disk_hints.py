"""Where a persistent disk shows up on this VM, from the CPI's attach_disk hint.

The hint is what the CPI knows, not what the kernel named the device (as in bosh-agent's
device path resolvers):

- a string path: ``/var/vcap/bosh/disks/<cid>`` (local CPI), ``/dev/vdb`` (OpenStack) or
  the EC2 device name ``/dev/sdf``, which a Xen instance shows as ``/dev/xvdf``;
- ``{"path": "/dev/sdf", "volume_id": "vol-0abc…"}`` (EC2): on a Nitro instance EBS
  volumes are NVMe namespaces ``/dev/nvme<N>n1`` in attach order, whatever device name was
  asked for; the controller's serial is the volume id without its dash (``vol0abc…``),
  which udev publishes as ``/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc…``;
- ``{"id": "2"}`` (vSphere): the disk's SCSI unit number on the VM's first controller. The
  kernel's letter follows probe order, so the device is the block device under
  ``/sys/bus/scsi/devices/<host>:0:<unit>:0/block/``, as bosh-agent's SCSI id resolver finds it.

So the volume id is tried first (by-id link, then each NVMe device's serial in sysfs), then
the path and its Xen/virtio spellings. Everything is looked up under ``root`` (``/`` on a
VM), so the lookup is tested against a fake /dev and /sys tree. An attachment may take a
few seconds to appear in the guest, hence ``wait_for_disk``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bosh_py.agent.errors import AgentActionError

NVME_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"
SYS_BLOCK = "/sys/block"
SCSI_NAME = re.compile(r"^/dev/(sd|xvd|vd)([a-z]+)$")
VOLUME_ID = re.compile(r"^vol-[0-9a-f]+$")
SCSI_UNIT = re.compile(r"^(?:[0-9]|1[0-5])$")  # 16 units per bus (7 is the controller's own)
SYS_SCSI_DEVICES = "/sys/bus/scsi/devices"
DEVICE_WAIT_SECONDS = 60.0
MAX_LINKS = 16


@dataclass(frozen=True)
class DiskHint:
    """A parsed hint: a path to try, an EBS volume id or a SCSI unit to look for."""

    path: str | None = None
    volume_id: str | None = None
    scsi_unit: str | None = None

    def describe(self) -> str:
        unit = f"SCSI unit {self.scsi_unit}" if self.scsi_unit is not None else None
        return " / ".join(x for x in (self.path, self.volume_id, unit) if x)


def parse_hint(hint: Any) -> DiskHint:
    """A string path, or a mapping with "path" and/or "volume_id", or with "id" (a SCSI
    unit); anything else is refused."""
    scsi_unit = None
    if isinstance(hint, str):
        path, volume_id = hint, None
    elif isinstance(hint, dict):
        path, volume_id, scsi_unit = hint.get("path"), hint.get("volume_id"), hint.get("id")
    else:
        raise AgentActionError(f"mount_disk: cannot use disk hint {hint!r} "
                               "(expected a path, {\"path\", \"volume_id\"} or {\"id\"})")
    if scsi_unit is not None:
        if not isinstance(scsi_unit, str) or not SCSI_UNIT.match(scsi_unit) or scsi_unit == "7":
            raise AgentActionError(f"mount_disk: disk hint id {scsi_unit!r} is not a SCSI unit "
                                   "number (0-15, not 7)")
        if path is not None or volume_id is not None:
            raise AgentActionError(f"mount_disk: disk hint {hint!r} mixes a SCSI unit with a path")
        return DiskHint(scsi_unit=scsi_unit)
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise AgentActionError(f"mount_disk: disk hint path {path!r} is not an absolute path")
    if volume_id is not None and (not isinstance(volume_id, str) or not VOLUME_ID.match(volume_id)):
        raise AgentActionError(f"mount_disk: disk hint volume_id {volume_id!r} is not an EBS "
                               "volume id (vol-…)")
    if path is None and volume_id is None:
        raise AgentActionError(f"mount_disk: disk hint {hint!r} has neither a path nor a volume_id")
    return DiskHint(path, volume_id)


def path_spellings(path: str) -> list[str]:
    """``/dev/sdf`` as the guest kernel may name it: itself, Xen's ``xvdf``, virtio's ``vdf``."""
    match = SCSI_NAME.match(path)
    if not match:
        return [path]
    letters = match.group(2)
    return [path] + [f"/dev/{kind}{letters}" for kind in ("sd", "xvd", "vd") if kind != match.group(1)]


def resolve_in_root(root: Path, vm_path: str) -> Path | None:
    """The existing file ``vm_path`` names on the VM, symlinks followed inside ``root``
    (an absolute link target is the VM's, not the host's); None when it does not exist."""
    current = vm_path
    for _ in range(MAX_LINKS):
        parts = [p for p in current.split("/") if p]
        resolved = "/"
        for index, part in enumerate(parts):
            candidate = os.path.normpath(os.path.join(resolved, part))
            on_host = root / candidate.lstrip("/")
            if on_host.is_symlink():
                target = os.readlink(on_host)
                rest = "/".join(parts[index + 1:])
                base = target if target.startswith("/") else os.path.join(resolved, target)
                current = os.path.normpath(os.path.join(base, rest)) if rest else os.path.normpath(base)
                break
            resolved = candidate
        else:
            on_host = root / resolved.lstrip("/")
            return on_host if on_host.exists() else None
    raise AgentActionError(f"mount_disk: too many symbolic links resolving {vm_path}")


def nvme_by_serial(root: Path, serial: str) -> str | None:
    """The NVMe namespace whose controller serial is ``serial`` (sysfs pads it with spaces)."""
    block = root / SYS_BLOCK.lstrip("/")
    try:
        names = sorted(os.listdir(block))
    except OSError:
        return None
    for name in names:
        if not re.fullmatch(r"nvme\d+n\d+", name):
            continue
        try:
            found = (block / name / "device" / "serial").read_text().strip()
        except OSError:
            continue
        if found == serial:
            return f"/dev/{name}"
    return None


def scsi_unit_devices(root: Path, unit: str) -> list[str]:
    """The block devices at SCSI target ``unit`` (channel 0, LUN 0), lowest host first."""
    devices = root / SYS_SCSI_DEVICES.lstrip("/")
    try:
        names = os.listdir(devices)
    except OSError:
        return []
    address = re.compile(rf"^(\d+):0:{unit}:0$")
    hosts = sorted((int(m.group(1)), name) for name in names if (m := address.match(name)))
    found: list[str] = []
    for _host, name in hosts:
        try:
            found.extend(f"/dev/{block}" for block in sorted(os.listdir(devices / name / "block")))
        except OSError:
            continue
    return found


def places_looked(hint: DiskHint) -> list[str]:
    """Where the lookup searched, for the error when it found no candidate at all."""
    if hint.scsi_unit is not None:
        return [f"{SYS_SCSI_DEVICES}/*:0:{hint.scsi_unit}:0/block"]
    return [hint.describe()]


def candidates(hint: DiskHint, root: Path) -> list[str]:
    """VM paths to try, most specific first."""
    if hint.scsi_unit is not None:
        return scsi_unit_devices(root, hint.scsi_unit)
    out: list[str] = []
    if hint.volume_id:
        serial = hint.volume_id.replace("-", "")
        out.append(NVME_BY_ID.format(serial=serial))
        by_serial = nvme_by_serial(root, serial)
        if by_serial:
            out.append(by_serial)
    if hint.path:
        out.extend(path_spellings(hint.path))
    return out


def find_disk(hint: DiskHint, root: Path) -> Path | None:
    """Where the disk is now (a path under ``root``), or None if no candidate exists yet."""
    for vm_path in candidates(hint, root):
        found = resolve_in_root(root, vm_path)
        if found is not None:
            return found
    return None


def wait_for_disk(hint: DiskHint, root: Path, timeout: float = DEVICE_WAIT_SECONDS,
                  sleep: Callable[[float], None] = time.sleep) -> Path:
    """``find_disk``, polling until the attachment appears; a clear error naming every
    place looked at when it does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = find_disk(hint, root)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise AgentActionError(
                f"Disk not found for hint {hint.describe()} after {timeout:g}s: looked at "
                f"{', '.join(candidates(hint, root) or places_looked(hint))}")
        sleep(0.5)
