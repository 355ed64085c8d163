"""create_vm(agent_id, stemcell_cid, cloud_properties, networks, disk_cids, env).

Makes the VM's host objects (recording each in the VM's state first), writes its
cloud-init-like files, boots it and returns ``[vm_cid, networks]`` once sshd accepts TCP
connections on the VM's IP. Any failure removes everything made so far and reports
VMCreationFailed, so a failed call leaves no orphan.
"""

from __future__ import annotations

import time
from typing import Any

from cpi.local import cgroups, guest_files, network, vm_runtime
from cpi.local.context import Context
from cpi.local.errors import CpiFailure, VMCreationFailed
from cpi.local.locking import locked
from cpi.local.state import DiskState, VmState, all_vms, new_id, private_dir, stemcell_rootfs


def run(ctx: Context, agent_id: str, stemcell_cid: str, cloud_properties: dict | None,
        networks: dict, disk_cids: list | None = None, env: dict | None = None) -> list[Any]:
    config = ctx.config
    started = time.monotonic()
    cloud_properties = cloud_properties or {}
    lower = stemcell_rootfs(config, stemcell_cid)
    if lower is None:
        raise VMCreationFailed(f"stemcell {stemcell_cid} not found")
    net = network.parse_networks(networks)
    key = guest_files.host_key_from_env(env or {})
    authorized = guest_files.authorized_keys_from_env(env or {})
    cgroups.require_v1(config.cgroup_root, cloud_properties)  # validate before making anything
    disk_cids = list(disk_cids or [])

    cid = new_id("vm")
    state = VmState(
        cid=cid, agent_id=str(agent_id), stemcell_cid=stemcell_cid, lower=str(lower),
        ip=net.ip, prefixlen=net.prefixlen, gateway=net.gateway, mac=net.mac,
        netns=f"{config.prefix}-{cid}", veth=f"{config.prefix}h{cid.split('-')[1]}",
        networks=networks, cloud_properties=cloud_properties, host_public_key=key.public,
        created_at=time.time(), id_base=config.id_base)
    vm_dir = state.dir(config)
    try:
        with locked(config.root):
            _check_free(ctx, state, disk_cids)
            private_dir(config, config.vms)
            vm_dir.mkdir(mode=0o700)
            for sub in ("work", "rootfs", "lower", "disks"):
                (vm_dir / sub).mkdir(mode=0o700)
            (vm_dir / "upper").mkdir(mode=0o755)  # the VM's "/": its users must traverse it
            config.ids.own(vm_dir / "upper")
            state.save(config)
            state.cgroups = cgroups.create(config.cgroup_root, f"{config.prefix}-{cid}", cloud_properties)
            state.save(config)
            if cgroups.wants_delegation(cloud_properties):
                state.delegated_cgroups = cgroups.delegate(state.cgroups, config.ids)
                state.save(config)
            state.disks = disk_cids
            vm_runtime.prepare_host_objects(state, config)
            state.save(config)
        guest_files.write_guest_files(vm_dir / "upper", cid, net.ip, key, authorized, config.ids)
        vm_runtime.boot(state, config)
        vm_runtime.wait_for_ssh(state, config, config.boot_timeout)
    except BaseException as error:
        _undo(ctx, state)
        if isinstance(error, VMCreationFailed):
            raise
        if isinstance(error, CpiFailure) or isinstance(error, OSError):
            raise VMCreationFailed(f"create_vm failed: {error}") from error
        raise
    ctx.log(f"VM {cid} ({net.ip}) ssh-ready in {time.monotonic() - started:.3f}s")
    return [cid, networks]


def _check_free(ctx: Context, state: VmState, disk_cids: list[str]) -> None:
    """The IP must be free and each disk must exist and be attached nowhere."""
    others = all_vms(ctx.config)
    for other in others:
        if other.ip == state.ip:
            raise VMCreationFailed(f"IP {state.ip} is already used by VM {other.cid}")
    for disk_cid in disk_cids:
        if DiskState.find(ctx.config, disk_cid) is None:
            raise VMCreationFailed(f"disk {disk_cid} not found")
        holders = [other.cid for other in others if disk_cid in other.disks]
        if holders:
            raise VMCreationFailed(f"disk {disk_cid} is attached to VM {holders[0]}")


def _undo(ctx: Context, state: VmState) -> None:
    if not state.dir(ctx.config).exists():
        return
    try:
        vm_runtime.teardown(state, ctx.config)
    except Exception as error:  # reported; `bosh-py-cpi-local cleanup` finishes the job
        ctx.log(f"cleanup after failed create_vm {state.cid} incomplete: {error}")
