"""The instance's persistent disk: create it, attach and mount it; a disk the manifest
dropped is unmounted, detached and orphaned (kept, see orphan_disks.py)."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.models import Instance, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceChange, InstanceUpdateError
from bosh_py.director.steps.rows import active_disk


async def ensure_disk(director: Director, change: InstanceChange, row: Instance, debug: Callable[[str], None]) -> None:
    size = change.group.persistent_disk
    deployment_name = str(change.apply_spec.get("deployment", ""))
    disk = active_disk(director, row.id)
    cpi = director.cpi(debug, row.cpi)  # the VM's CPI: a disk is made and attached where its VM lives
    agent = director.agent(row.agent_id)
    if size <= 0:
        if disk is not None:  # the manifest dropped the disk: keep its data as an orphan
            await agent.unmount_disk(disk.cid)
            await cpi.call("detach_disk", row.vm_cid, disk.cid)
            with director.sessions.begin() as session:
                orphan(session, session.get(PersistentDisk, disk.id), deployment_name,
                       f"{row.group}/{row.uuid}", row.az)
            debug(f"Orphaned persistent disk {disk.cid} of {row.group}/{row.uuid}")
        return
    if disk is not None and disk.size != size:
        raise InstanceUpdateError(
            f"instance_groups/{change.group.name}: changing the persistent disk size ({disk.size} MB -> {size} MB) "
            f"is not supported yet; the disk was left as it is")
    if disk is not None and disk.cpi != row.cpi:
        raise InstanceUpdateError(
            f"instance_groups/{change.group.name}: persistent disk {disk.cid} lives in CPI '{disk.cpi}', "
            f"the VM in CPI '{row.cpi}'; a disk cannot move between CPIs")
    if disk is None:
        cid = await cpi.call("create_disk", size, change.group.disk_cloud_properties, row.vm_cid)
        with director.sessions.begin() as session:
            session.add(PersistentDisk(instance_id=row.id, cid=cid, cpi=row.cpi, size=size, active=True))
        disk_cid = cid
    else:
        disk_cid = disk.cid
    mounted = await agent.list_disk()
    if disk_cid not in (mounted or []):
        hint = await cpi.call("attach_disk", row.vm_cid, disk_cid)
        await agent.mount_disk(disk_cid, hint)
