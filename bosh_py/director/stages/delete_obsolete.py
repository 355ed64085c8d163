"""Stage "delete obsolete instances": what the manifest no longer has (scaled down, group
removed) is stopped, its VM deleted and its persistent disks orphaned, never deleted."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select

from bosh_py.director.concurrency import await_all
from bosh_py.director.models import Deployment, Instance, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.services import Director
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.steps.delete_vm import delete_instance_vm
from bosh_py.director.steps.drain_stop import agent_responds, stop_instance


async def delete_instance(director: Director, row: Instance, debug: Callable[[str], None],
                          skip_drain: bool = False, deleting_deployment: bool = False) -> None:
    """Stop, delete the VM, orphan the persistent disks (detached, kept: see
    orphan_disks.py), forget the instance. Never deletes a disk."""
    if row.vm_cid:
        if await agent_responds(director, row.agent_id):
            next_state = {"vm": "delete", "instance": "delete",
                          "deployment": "delete" if deleting_deployment else "keep"}
            await stop_instance(director, row.agent_id, "shutdown", debug, tolerate_unresponsive=True,
                                skip_drain=skip_drain, next_state=next_state)
        await delete_instance_vm(director, row, debug)
    with director.sessions.begin() as session:
        instance = session.get(Instance, row.id)
        if instance is None:
            return
        deployment = session.get(Deployment, instance.deployment_id)
        for disk in list(session.scalars(select(PersistentDisk).where(PersistentDisk.instance_id == row.id))):
            orphan(session, disk, deployment.name if deployment else "", f"{row.group}/{row.uuid}", row.az)
            debug(f"Orphaned persistent disk {disk.cid} of {row.group}/{row.uuid}")
        session.flush()
        session.delete(instance)


async def run(r: DeployRun) -> None:
    if not r.obsolete:
        return
    stage = r.log.stage("Deleting unneeded instances", len(r.obsolete))

    async def delete(row: Instance) -> None:
        with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
            await delete_instance(r.director, row, r.log.debug, skip_drain=r.options.skip_drain)

    await await_all(delete(row) for row in r.obsolete)
