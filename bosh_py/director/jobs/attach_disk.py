"""`bosh-py attach-disk -d NAME GROUP/ID DISK_CID`: give an orphaned disk back to an instance.

What makes orphaning safe: a disk kept after a scale-down or a manifest edit can be put back
under the instance that needs its data. As BOSH's attach-disk does, the instance's jobs are
stopped, its current disk (if any) is orphaned in turn (never deleted), the orphan is
attached and mounted at /var/vcap/store, and the jobs are started again if they were
expected to run.
"""

from __future__ import annotations

from sqlalchemy import select

from bosh_py.director.deployment_views import find_deployment, select_instances
from bosh_py.director.instance_updater import stop_instance, wait_until_running
from bosh_py.director.models import Event, Instance, OrphanDisk, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError


def _target(director: Director, deployment: str, selector: str, cid: str) -> tuple[Instance, OrphanDisk]:
    with director.sessions() as session:
        rows = [r for r in select_instances(list(find_deployment(session, deployment).instances), selector)]
        if len(rows) != 1:
            raise BoshPyError(f"'{selector}' must name exactly one instance (GROUP/ID or GROUP/INDEX)")
        row = rows[0]
        if not row.vm_cid or not row.agent_id:
            raise BoshPyError(f"{row.group}/{row.uuid} has no VM to attach disk {cid} to; deploy first")
        disk = session.scalars(select(OrphanDisk).where(OrphanDisk.cid == cid)).first()
        if disk is None:
            raise BoshPyError(f"Orphaned disk '{cid}' not found (`bosh-py disks --orphaned` lists them)")
        if disk.cpi != row.cpi:
            raise BoshPyError(f"Disk {cid} lives in CPI '{disk.cpi}' and {row.group}/{row.uuid}'s VM in CPI "
                              f"'{row.cpi}': a disk can only be attached to a VM of the CPI that made it")
        session.expunge(row)
        session.expunge(disk)
        return row, disk


async def attach_disk(director: Director, ctx: TaskContext, deployment: str, selector: str, cid: str) -> str:
    async with director.locks.hold(f"deployment:{deployment}", ctx.id):
        row, disk = _target(director, deployment, selector, cid)
        name = f"{row.group}/{row.uuid}"
        agent = director.agent(row.agent_id)
        cpi = director.cpi(ctx.log.debug, row.cpi)
        stage = ctx.log.stage("Attaching disk", 3, [name])
        with stage.task(f"Stopping {name}"):
            await stop_instance(director, row.agent_id, "shutdown", ctx.log.debug, tolerate_unresponsive=False)
        with stage.task(f"Attaching {cid}"):
            with director.sessions() as session:
                current = [(d.id, d.cid) for d in session.scalars(
                    select(PersistentDisk).where(PersistentDisk.instance_id == row.id, PersistentDisk.active))]
            for disk_id, current_cid in current:
                await agent.run("unmount_disk", current_cid)
                await cpi.call("detach_disk", row.vm_cid, current_cid)
                with director.sessions.begin() as session:
                    orphan(session, session.get(PersistentDisk, disk_id), deployment, name, row.az, ctx.id)
            hint = await cpi.call("attach_disk", row.vm_cid, cid)
            await agent.run("mount_disk", cid, hint)
            with director.sessions.begin() as session:
                session.add(PersistentDisk(instance_id=row.id, cid=cid, cpi=disk.cpi, size=disk.size, active=True))
                session.delete(session.get(OrphanDisk, disk.id))
                session.add(Event(action="attach", object_type="disk", object_name=cid, task_id=ctx.id,
                                  deployment_name=deployment, instance=name,
                                  context={"from": f"{disk.deployment_name}/{disk.instance_name}"}))
        with stage.task(f"Starting {name}"):
            if row.state == "started":
                await agent.run("start")
                await wait_until_running(director, row.agent_id, (1000, 30000), name)
                await agent.run("run_script", "post-start", {})
    return f"Attached disk {cid} to {name}"
