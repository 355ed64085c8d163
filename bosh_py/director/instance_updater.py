"""Bringing one instance to its desired state: drain and stop, recreate the VM if its
stemcell, cloud properties or networks changed, mount the persistent disk, apply, start,
watch until running, post-start. Each step's state is written to the DB as soon as it is
true, so a failure in the middle leaves a record that the next deploy can fix."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from bosh_py.director.models import Instance, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.planner import GroupPlan, InstancePlan
from bosh_py.director.services import Director
from bosh_py.director.vm_lifecycle import VmRequest, create_vm, delete_vm
from bosh_py.errors import BoshPyError


class InstanceUpdateError(BoshPyError):
    pass


@dataclass
class InstanceChange:
    group: GroupPlan
    plan: InstancePlan
    instance_id: int  # DB row (created by the deploy before updating)
    apply_spec: dict  # without rendered_templates_archive, which is uploaded at apply time
    rendered_archive: bytes
    needs_vm: bool
    needs_apply: bool


def _row(director: Director, instance_id: int) -> Instance:
    with director.sessions() as session:
        row = session.get(Instance, instance_id)
        assert row is not None
        session.expunge(row)
        return row


def _save(director: Director, instance_id: int, **values: object) -> None:
    with director.sessions.begin() as session:
        row = session.get(Instance, instance_id)
        for key, value in values.items():
            setattr(row, key, value)


def _active_disk(director: Director, instance_id: int) -> PersistentDisk | None:
    with director.sessions() as session:
        row = session.get(Instance, instance_id)
        disk = next((d for d in row.disks if d.active), None) if row else None
        if disk is not None:
            session.expunge(disk)
        return disk


async def stop_instance(director: Director, agent_id: str, drain_type: str, debug: Callable[[str], None],
                        tolerate_unresponsive: bool) -> None:
    agent = director.agent(agent_id)
    try:
        await agent.run("drain", drain_type)  # the agent itself waits out what drain scripts ask
        await agent.run("stop")
    except BoshPyError as error:
        if not tolerate_unresponsive:
            raise
        debug(f"Agent {agent_id} did not stop cleanly ({error}); the VM is being replaced anyway")


async def agent_responds(director: Director, agent_id: str | None, timeout: float = 3.0) -> bool:
    """A quick ping, so a VM being replaced because its agent died is not waited on for
    every RPC's full timeout."""
    if not agent_id:
        return False
    try:
        await director.agent(agent_id).call("ping", timeout=timeout)
        return True
    except BoshPyError:
        return False


async def delete_instance_vm(director: Director, row: Instance, debug: Callable[[str], None]) -> None:
    """Unmount and detach the disk (kept), then delete the VM."""
    disk = _active_disk(director, row.id)
    cpi = director.cpi(debug, row.cpi)
    if disk is not None:
        if await agent_responds(director, row.agent_id):
            try:
                await director.agent(row.agent_id).run("unmount_disk", disk.cid)
            except BoshPyError as error:
                debug(f"unmount_disk on {row.group}/{row.uuid}: {error}")
        try:
            await cpi.call("detach_disk", row.vm_cid, disk.cid)
        except BoshPyError as error:
            debug(f"detach_disk on {row.group}/{row.uuid}: {error}")
    await delete_vm(director, row.vm_cid, row.agent_id, debug, row.cpi)
    _save(director, row.id, vm_cid=None, agent_id=None, host_public_key=None, vm_spec_digest=None)


async def ensure_vm(director: Director, change: InstanceChange, deployment: str,
                    debug: Callable[[str], None]) -> Instance:
    row = _row(director, change.instance_id)
    if row.vm_cid and not change.needs_vm:
        return row
    if row.vm_cid:
        await delete_instance_vm(director, row, debug)
    plan = change.plan
    vm = await create_vm(director, VmRequest(
        plan.stemcell_cid, plan.cloud_properties, plan.networks, change.group.env,
        {"deployment": deployment, "instance_group": plan.group, "job": plan.group, "index": str(plan.index),
         "id": plan.uuid, "name": plan.name, "director": director.config.name}, plan.cpi,
    ), debug)
    _save(director, row.id, vm_cid=vm.cid, cpi=vm.cpi, agent_id=vm.agent_id, host_public_key=vm.host_public_key,
          vm_spec_digest=plan.vm_digest, ip=plan.ip, az=plan.az, applied_spec={})
    return _row(director, row.id)


async def ensure_disk(director: Director, change: InstanceChange, row: Instance, debug: Callable[[str], None]) -> None:
    size = change.group.persistent_disk
    deployment_name = str(change.apply_spec.get("deployment", ""))
    disk = _active_disk(director, row.id)
    cpi = director.cpi(debug, row.cpi)  # the VM's CPI: a disk is made and attached where its VM lives
    agent = director.agent(row.agent_id)
    if size <= 0:
        if disk is not None:  # the manifest dropped the disk: keep its data as an orphan
            await agent.run("unmount_disk", disk.cid)
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
    mounted = await agent.call("list_disk")
    if disk_cid not in (mounted or []):
        hint = await cpi.call("attach_disk", row.vm_cid, disk_cid)
        await agent.run("mount_disk", disk_cid, hint)


async def wait_until_running(director: Director, agent_id: str, watch: tuple[int, int], name: str) -> None:
    low, high = watch
    started = time.monotonic()
    await asyncio.sleep(low / 1000)
    agent = director.agent(agent_id)
    while True:
        state = await agent.call("get_state")
        if state.get("job_state") == "running":
            return
        if (time.monotonic() - started) * 1000 >= high:
            failing = [f"{p.get('name')} ({p.get('state')})" for p in state.get("processes") or []
                       if p.get("state") != "running"]
            detail = f": {', '.join(failing)}" if failing else ""
            raise InstanceUpdateError(
                f"'{name}' is not running after update (job state '{state.get('job_state')}'){detail}. "
                f"Review logs for failed jobs: {', '.join(t['name'] for t in state.get('job', {}).get('templates', []) or []) or 'all'} "
                f"(`bosh-py logs {name}`)")
        await asyncio.sleep(0.25)


async def update_instance(director: Director, change: InstanceChange, deployment: str,
                          watch: tuple[int, int], debug: Callable[[str], None]) -> None:
    row = _row(director, change.instance_id)
    old_archive = (row.applied_spec or {}).get("rendered_templates_archive", {}).get("blobstore_id")
    if row.vm_cid and row.agent_id and (change.needs_vm or change.needs_apply):
        if not change.needs_vm or await agent_responds(director, row.agent_id):
            await stop_instance(director, row.agent_id, "update", debug, tolerate_unresponsive=change.needs_vm)
        else:
            debug(f"Agent {row.agent_id} does not answer: replacing {change.plan.name}'s VM without stopping it")
    row = await ensure_vm(director, change, deployment, debug)
    await ensure_disk(director, change, row, debug)
    blob_id, digest = await asyncio.to_thread(director.blobstore.put_bytes, change.rendered_archive)
    spec = {**change.apply_spec, "rendered_templates_archive": {"blobstore_id": blob_id, "sha1": digest}}
    agent = director.agent(row.agent_id)
    try:
        await agent.run("apply", spec)
    except BaseException:
        director.blobstore.delete(blob_id)  # recorded nowhere yet
        raise
    _save(director, row.id, applied_spec=spec)
    if old_archive:
        director.blobstore.delete(old_archive)
    if change.plan.state == "started":
        await agent.run("start")
        await wait_until_running(director, row.agent_id, watch, change.plan.name)
        await agent.run("run_script", "post-start", {})
