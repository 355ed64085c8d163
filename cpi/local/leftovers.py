"""``bosh-py-cpi-local list`` and ``cleanup``: find and remove what this CPI made.

Leftovers are found two ways: by recorded state (every VM directory under root) and by
name (netns ``<prefix>-vm-*``, veths ``<prefix>h<hex>``, cgroups ``bosh-py/<prefix>-*``,
mounts under root, the configured bridge), so even a CPI killed half-way through
create_vm is cleaned. Processes are only ever signalled by their recorded PID.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field

from cpi.local import cgroups, mounts, network, vm_runtime
from cpi.local.config import Config
from cpi.local.locking import locked
from cpi.local.processes import ProcessRef
from cpi.local.state import STATE_FILE, all_vms


@dataclass
class Inventory:
    vms: list[dict] = field(default_factory=list)
    stray_netns: list[str] = field(default_factory=list)
    stray_links: list[str] = field(default_factory=list)
    stray_cgroups: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    bridge: str | None = None
    disks: list[str] = field(default_factory=list)
    stemcells: list[str] = field(default_factory=list)


def _vm_netns(config: Config) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(config.prefix)}-vm-[0-9a-f]+")


def _vm_link(config: Config) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(config.prefix)}h[0-9a-f]{{10}}")


def inventory(config: Config) -> Inventory:
    """Everything of this CPI's that exists on the host right now."""
    vms = all_vms(config)
    known_netns = {vm.netns for vm in vms}
    known_links = {vm.veth for vm in vms}
    known_groups = {group for vm in vms for group in vm.cgroups}
    found = Inventory()
    for vm in vms:
        keeper = ProcessRef.read(vm.dir(config) / "keeper.pid")
        found.vms.append({"cid": vm.cid, "ip": vm.ip, "agent_id": vm.agent_id,
                          "stemcell": vm.stemcell_cid, "disks": vm.disks,
                          "running": bool(keeper and keeper.alive())})
    found.stray_netns = [n for n in network.netns_names()
                         if _vm_netns(config).fullmatch(n) and n not in known_netns]
    found.stray_links = [n for n in network.link_names()
                         if _vm_link(config).fullmatch(n) and n not in known_links]
    found.stray_cgroups = [g for g in cgroups.leftover_groups(config.cgroup_root, config.prefix)
                           if g not in known_groups]
    found.mounts = mounts.mountpoints_under(config.root)
    found.bridge = config.bridge if network.link_exists(config.bridge) else None
    if config.disks.is_dir():
        found.disks = sorted(p.name for p in config.disks.iterdir() if (p / STATE_FILE).exists())
    if config.stemcells.is_dir():
        found.stemcells = sorted(p.name for p in config.stemcells.iterdir() if (p / "rootfs").is_dir())
    return found


def cleanup(config: Config, purge: bool = False, log=print) -> list[str]:
    """Remove every VM and host object this CPI made; with ``purge`` also disks, stemcells
    and the root directory. Returns the problems it could not fix (empty when clean)."""
    problems: list[str] = []
    with locked(config.root):
        for vm in all_vms(config):
            try:
                vm_runtime.teardown(vm, config)
                log(f"removed VM {vm.cid} ({vm.ip})")
            except Exception as error:  # keep going: clean as much as possible
                problems.append(f"VM {vm.cid}: {error}")
        for name in inventory(config).stray_netns:
            network.ip("netns", "delete", name, check=False)
            log(f"removed stray netns {name}")
        for name in inventory(config).stray_links:
            network.ip("link", "delete", name, check=False)
            log(f"removed stray link {name}")
        for group in inventory(config).stray_cgroups:
            cgroups.remove([group])
            log(f"removed stray cgroup {group}")
        cgroups.remove_parent_if_empty(config.cgroup_root)
        try:
            mounts.unmount_all_under(config.root)
        except Exception as error:
            problems.append(str(error))
        _remove_partial_vm_dirs(config, problems)
        if network.link_exists(config.bridge):
            network.ip("link", "delete", config.bridge, check=False)
            log(f"removed bridge {config.bridge}")
    if purge and not problems and not mounts.mountpoints_under(config.root):
        shutil.rmtree(config.root, ignore_errors=True)
        log(f"removed {config.root}")
    left = inventory(config)
    problems += [f"netns {n} remains" for n in left.stray_netns]
    problems += [f"link {n} remains" for n in left.stray_links]
    problems += [f"cgroup {g} remains" for g in left.stray_cgroups]
    problems += [f"mount {m} remains" for m in left.mounts]
    return problems


def _remove_partial_vm_dirs(config: Config, problems: list[str]) -> None:
    """VM directories without state (a create_vm killed early) hold nothing but files."""
    if not config.vms.is_dir():
        return
    for path in config.vms.iterdir():
        if (path / STATE_FILE).exists():
            problems.append(f"VM directory {path} still present")
        elif not mounts.mountpoints_under(path):
            shutil.rmtree(path, ignore_errors=True)


def format_inventory(found: Inventory) -> str:
    lines = [f"{'VM':<15} {'IP':<15} {'RUNNING':<8} {'STEMCELL':<15} DISKS"]
    for vm in found.vms:
        lines.append(f"{vm['cid']:<15} {vm['ip']:<15} {str(vm['running']).lower():<8} "
                     f"{vm['stemcell']:<15} {','.join(vm['disks']) or '-'}")
    lines.append(f"bridge: {found.bridge or '-'}")
    lines.append(f"stemcells: {', '.join(found.stemcells) or '-'}")
    lines.append(f"disks: {', '.join(found.disks) or '-'}")
    for label, items in (("stray netns", found.stray_netns), ("stray links", found.stray_links),
                         ("stray cgroups", found.stray_cgroups), ("mounts", found.mounts)):
        if items:
            lines.append(f"{label}: {', '.join(items)}")
    return "\n".join(lines)

