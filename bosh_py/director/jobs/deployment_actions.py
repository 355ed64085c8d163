"""Tasks on an existing deployment: delete it, start/stop/restart/recreate instances,
fetch logs, and the SSH access set-up behind `bosh-py ssh`."""

from __future__ import annotations

import asyncio

from bosh_py.director.concurrency import await_all
from bosh_py.director.deployment_views import find_deployment, select_instances
from bosh_py.director.instance_updater import stop_instance, wait_until_running
from bosh_py.director.jobs.deploy import DeployOptions, delete_instance, deploy
from bosh_py.director.manifest_input import prepare_deployment
from bosh_py.director.models import Event, Instance
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError
from bosh_py.ssh.bootstrap import authorize_key, revoke_key
from bosh_py.ssh.client import PinnedSshClient


def recreate_task(director: Director, name: str, selector: str | None):  # type: ignore[no-untyped-def]
    """The deploy task body that recreates the selected instances' VMs (`bosh-py recreate`)."""
    return recreate_body(director, name, {r.id for r in select_instances(_rows(director, name), selector)})


def recreate_body(director: Director, name: str, instance_ids: set[int]):  # type: ignore[no-untyped-def]
    """A deploy of the stored manifest restricted to these instances, recreating their VMs
    (same IP, same persistent disk); also what the resurrector runs."""
    with director.sessions() as session:
        deployment = find_deployment(session, name)
        text, cloud_config_id = deployment.manifest_text, deployment.cloud_config_id
    # the deployed cloud-config, not a newer one uploaded since: recreating one instance
    # must not give it settings its siblings do not have
    source = prepare_deployment(director, text, generate=False, cloud_config_id=cloud_config_id)
    options = DeployOptions(recreate=True, only_instance_ids=instance_ids)
    return lambda ctx: deploy(director, ctx, source, options)


def _rows(director: Director, name: str) -> list[Instance]:
    with director.sessions() as session:
        rows = sorted(find_deployment(session, name).instances, key=lambda i: (i.group, i.index))
        for row in rows:
            session.expunge(row)
        return rows


async def delete_deployment(director: Director, ctx: TaskContext, name: str, force: bool) -> str:
    async with director.locks.hold(f"deployment:{name}", ctx.id):
        rows = _rows(director, name)
        stage = ctx.log.stage("Deleting instances", len(rows))

        async def delete(row: Instance) -> None:
            with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
                try:
                    await delete_instance(director, row, ctx.log.debug)
                except BoshPyError:
                    if not force:
                        raise

        await await_all(delete(r) for r in rows)
        with director.sessions.begin() as session:
            session.delete(find_deployment(session, name))
            session.add(Event(action="delete", object_type="deployment", object_name=name,
                              task_id=ctx.id, deployment_name=name))
    return f"Deleted deployment '{name}'"


async def change_state(director: Director, ctx: TaskContext, name: str, action: str, selector: str | None) -> str:
    """start, stop or restart the selected instances one at a time (recreate is a deploy
    restricted to them, see the API)."""
    if action not in ("start", "stop", "restart"):
        raise BoshPyError(f"Unknown instance action '{action}'")
    stage_name = {"start": "Starting instance", "stop": "Stopping instance", "restart": "Restarting instance"}[action]
    async with director.locks.hold(f"deployment:{name}", ctx.id):
        chosen = select_instances(_rows(director, name), selector)
        stage = ctx.log.stage(stage_name, len(chosen))
        for row in chosen:
            with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
                await _change_one(director, row, action, ctx.log.debug)
        with director.sessions.begin() as session:
            session.add(Event(action=action, object_type="instance", object_name=selector or "all",
                              task_id=ctx.id, deployment_name=name))
    return f"{action} done for {len(chosen)} instance(s)"


async def _change_one(director: Director, row: Instance, action: str, debug) -> None:  # type: ignore[no-untyped-def]
    if not row.agent_id:
        raise BoshPyError(f"{row.group}/{row.uuid} has no VM; deploy to create it")
    agent = director.agent(row.agent_id)
    if action in ("stop", "restart"):
        await stop_instance(director, row.agent_id, "shutdown" if action == "stop" else "update", debug, False)
    if action in ("start", "restart"):
        await agent.run("start")
        await wait_until_running(director, row.agent_id, (1000, 30000), f"{row.group}/{row.uuid}")
        await agent.run("run_script", "post-start", {})
    with director.sessions.begin() as session:
        session.get(Instance, row.id).state = "stopped" if action == "stop" else "started"


async def fetch_logs(director: Director, ctx: TaskContext, name: str, selector: str | None) -> str:
    rows = [r for r in select_instances(_rows(director, name), selector) if r.agent_id]
    if len(rows) != 1:
        raise BoshPyError("Fetch logs from one instance at a time: name it as GROUP/ID or GROUP/INDEX")
    row = rows[0]
    stage = ctx.log.stage("Fetching logs", 1)
    with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
        value = await director.agent(row.agent_id).run("fetch_logs", "job", None)
    return value["blobstore_id"]


async def ssh_access(director: Director, name: str, selector: str, public_key: str, action: str) -> dict:
    """Authorize (or revoke) an operator's one-time key on one VM; returns how to reach it."""
    if action not in ("setup", "cleanup"):
        raise BoshPyError(f"Unknown ssh action '{action}' (setup or cleanup)")
    rows = [r for r in select_instances(_rows(director, name), selector) if r.vm_cid]
    if len(rows) != 1:
        raise BoshPyError(f"'{selector}' must name exactly one instance with a VM (GROUP/ID or GROUP/INDEX)")
    row = rows[0]

    def change() -> None:
        with PinnedSshClient(row.ip, director.ssh_key.private_key, row.host_public_key).connect(timeout=10) as ssh:
            (authorize_key if action == "setup" else revoke_key)(ssh, public_key)

    await asyncio.to_thread(change)
    return {"host": row.ip, "user": "root", "host_public_key": row.host_public_key,
            "instance": f"{row.group}/{row.uuid}"}
