"""Optional cgroup v1 limits for a VM (this machine's controllers live in v1 hierarchies; on
a cgroup v2 host, Debian 12's default, a VM asking for them is refused naming the boot option
that brings v1 back: :func:`require_v1`).

``cloud_properties.memory`` (or ``ram``, MB) sets memory.limit_in_bytes, enforced by the
OOM killer; ``cloud_properties.pids`` sets pids.max. Without either, no cgroup is made.

``cloud_properties.cgroups: true`` delegates cgroups to the VM (for a DEA making
containers): the VM gets memory and pids groups even without limits, and a child group
``delegated`` of each, which the VM sees writable at /sys/fs/cgroup/<controller>: the child
and its files belong to the VM's root (host uid ``id_base``), the parent stays host root's.
The VM's own processes stay in the parent, whose limits the VM cannot change but which
bound everything the VM creates below. cgroup v1 lets a non-root writer move only
processes of its own uid: the VM's root moves a process into a group before that process
drops to another user (as the DEA's containers do).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cpi.local.errors import VMCreationFailed
from cpi.local.ids import IdRange

PARENT = "bosh-py"
CONTROLLERS = ("memory", "pids")
DELEGATED = "delegated"


def controller_mounts(mountinfo: str, cgroup_root: Path) -> dict[str, str]:
    """{mount point: fs type} of the cgroup file systems at or below ``cgroup_root``, from
    /proc/self/mountinfo text (fields: ... mount point (5th) ... `-` fstype source options)."""
    found: dict[str, str] = {}
    root = str(cgroup_root).rstrip("/") or "/"
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or not tail or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4]
        if point == root or point.startswith(root + "/"):
            found[point] = tail[0]
    return found


def require_v1(cgroup_root: Path, cloud_properties: dict[str, Any], mountinfo: str | None = None) -> None:
    """Refuse, before anything is made, limits this host cannot give: the groups are cgroup
    v1 files (memory.limit_in_bytes, a tree per controller), and a cgroup v2 host (Debian
    12's default: one unified hierarchy) has none of them."""
    wanted = limits(cloud_properties)
    if not wanted:
        return
    asked = ", ".join(f"cloud_properties.{key}" for key in ("memory", "ram", "pids", "cgroups")
                      if cloud_properties.get(key) not in (None, False))
    mounts = controller_mounts(Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo,
                               cgroup_root)
    root = str(cgroup_root).rstrip("/")
    if mounts.get(root) == "cgroup2":
        raise VMCreationFailed(
            f"{asked} need cgroup v1 controllers, but {cgroup_root} is a cgroup v2 (unified) hierarchy, "
            f"Debian 12's default: boot the host with systemd.unified_cgroup_hierarchy=0 (add it to "
            f"GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot), or deploy without them")
    missing = [c for c in wanted if mounts.get(f"{root}/{c}") != "cgroup"]
    if missing:
        raise VMCreationFailed(f"{asked} need the cgroup v1 {' and '.join(missing)} controller under "
                               f"{cgroup_root}, which this host does not mount")


def wants_delegation(cloud_properties: dict[str, Any]) -> bool:
    value = cloud_properties.get("cgroups", False)
    if not isinstance(value, bool):
        raise VMCreationFailed(f"cloud_properties.cgroups: expected true or false, got {value!r}")
    return value


def limits(cloud_properties: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{controller: {file: value}} for the limits asked for."""
    wanted: dict[str, dict[str, str]] = {}
    memory = cloud_properties.get("memory", cloud_properties.get("ram"))
    if memory is not None:
        try:
            wanted["memory"] = {"memory.limit_in_bytes": str(int(memory) * 1024 * 1024)}
        except (TypeError, ValueError) as error:
            raise VMCreationFailed(f"cloud_properties.memory: expected MB, got {memory!r}") from error
    pids = cloud_properties.get("pids")
    if pids is not None:
        wanted["pids"] = {"pids.max": str(int(pids))}
    if wants_delegation(cloud_properties):
        for controller in CONTROLLERS:
            wanted.setdefault(controller, {})
    return wanted


def create(cgroup_root: Path, name: str, cloud_properties: dict[str, Any]) -> list[str]:
    """Make and configure the VM's groups; return their paths (to record before use)."""
    made: list[str] = []
    for controller, files in limits(cloud_properties).items():
        group = cgroup_root / controller / PARENT / name
        group.mkdir(parents=True, exist_ok=True)
        made.append(str(group))
        for filename, value in files.items():
            (group / filename).write_text(value)
    return made


def delegate(groups: list[str], ids: IdRange) -> dict[str, str]:
    """Make the ``delegated`` child of each of the VM's groups, owned by the VM's root:
    {controller: host path}."""
    made: dict[str, str] = {}
    for group in groups:
        controller = Path(group).parent.parent.name  # <root>/<controller>/bosh-py/<name>
        child = Path(group) / DELEGATED
        child.mkdir(exist_ok=True)
        for path in [child, *child.iterdir()]:
            ids.own(path)
        made[controller] = str(child)
    return made


def join(groups: list[str], pid: int) -> None:
    """Move ``pid`` into every group (children inherit them)."""
    for group in groups:
        Path(group, "cgroup.procs").write_text(str(pid))


def remove(groups: list[str]) -> None:
    """rmdir the groups once their processes are gone (the kernel frees them lazily),
    children first: a VM with delegated cgroups may have made its own below them."""
    for group in groups:
        children = [os.path.join(d, name) for d, names, _f in os.walk(group, topdown=False) for name in names]
        for path in [*children, group]:
            for _ in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def leftover_groups(cgroup_root: Path, prefix: str) -> list[str]:
    found = []
    for controller in ("memory", "pids"):
        parent = cgroup_root / controller / PARENT
        if parent.is_dir():
            found += [str(p) for p in parent.iterdir() if p.is_dir() and p.name.startswith(f"{prefix}-")]
    return found


def remove_parent_if_empty(cgroup_root: Path) -> None:
    """The shared ``bosh-py`` parent groups go once no CPI has a VM group left in them."""
    for controller in ("memory", "pids"):
        try:
            os.rmdir(cgroup_root / controller / PARENT)
        except OSError:
            pass
