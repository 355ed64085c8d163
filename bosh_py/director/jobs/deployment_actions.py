"""Tasks on an existing deployment: delete it, start/stop/restart/recreate instances,
fetch logs, and the SSH access set-up behind `bosh-py ssh`."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bosh_py.director.concurrency import await_all
from bosh_py.director.deployment_views import find_deployment, select_instances
from bosh_py.director.instance_updater import stop_instance, wait_until_running
from bosh_py.director.jobs.deploy import DeployOptions, delete_instance, deploy
from bosh_py.director.jobs.instance_action_options import InstanceActionOptions
from bosh_py.director.jobs.restart_rollout import GroupRollout, describe_batch, restart_rollout
from bosh_py.director.manifest_input import DeploymentInput, prepare_deployment
from bosh_py.director.models import Event, Instance, Task
from bosh_py.director.orphan_disks import orphan_remaining_disks
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError
from bosh_py.ssh.bootstrap import authorize_key, checked_public_key, revoke_key
from bosh_py.ssh.client import PinnedSshClient

log = logging.getLogger(__name__)

FETCH_LOGS = "fetch logs"  # the task description that marks a logs blob
LOGS_RETENTION = 600  # seconds a fetched logs blob waits for `bosh-py logs` to download it
SSH_KEY_LIFETIME = 300  # seconds a one-time ssh key may be used to log in (the session may last longer)


def recreate_params(director: Director, name: str, selector: str | None,
                    options: InstanceActionOptions | None = None) -> dict:
    """The parameters of a ``recreate`` task (task_kinds.py) for the selected instances
    (`bosh-py recreate`). A selector that matches nothing, or a stored manifest that no longer
    plans, is refused now, before anything is queued."""
    rows = select_instances(_rows(director, name), selector)
    prepare_deployed(director, name)
    return {"deployment": name, "instance_ids": sorted(r.id for r in rows),
            "options": dataclasses.asdict(options or InstanceActionOptions())}


async def recreate(director: Director, ctx: TaskContext, name: str, instance_ids: set[int],
                   options: InstanceActionOptions | None = None) -> str:
    """A deploy of the stored manifest restricted to these instances, recreating their VMs
    (same IP, same persistent disk), rolled out with the deploy's flags (canaries, max in
    flight, dry run, fix); also what the resurrector and cloud-check run."""
    source = await asyncio.to_thread(prepare_deployed, director, name)
    flags = dataclasses.asdict(options or InstanceActionOptions())
    return await deploy(director, ctx, source, DeployOptions(recreate=True, only_instance_ids=instance_ids, **flags))


def prepare_deployed(director: Director, name: str) -> DeploymentInput:
    """The stored manifest of deployment ``name`` with the cloud- and runtime-configs it was
    last deployed with, not newer ones uploaded since: recreating one instance, or running
    an errand, must not get settings or addons its siblings do not have."""
    with director.sessions() as session:
        deployment = find_deployment(session, name)
        text, cloud_config_id = deployment.manifest_text, deployment.cloud_config_id
        runtime_config_ids = list(deployment.runtime_config_ids or [])
    return prepare_deployment(director, text, generate=False, cloud_config_id=cloud_config_id,
                              runtime_config_ids=runtime_config_ids)


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
                    await delete_instance(director, row, ctx.log.debug, deleting_deployment=True)
                except BoshPyError:
                    if not force:
                        raise

        await await_all(delete(r) for r in rows)
        with director.sessions.begin() as session:
            deployment = find_deployment(session, name)
            orphan_remaining_disks(session, deployment, ctx.id)  # left by --force: kept and listed
            session.delete(deployment)
            session.add(Event(action="delete", object_type="deployment", object_name=name,
                              task_id=ctx.id, deployment_name=name))
    return f"Deleted deployment '{name}'"


async def change_state(director: Director, ctx: TaskContext, name: str, action: str, selector: str | None,
                       options: InstanceActionOptions | None = None) -> str:
    """start or stop the selected instances one at a time; restart them in the deploy's
    rollout order (restart_rollout.py). Recreate is a deploy restricted to them (``recreate``)."""
    if action not in ("start", "stop", "restart"):
        raise BoshPyError(f"Unknown instance action '{action}'")
    options = options or InstanceActionOptions()
    if action == "restart":
        return await _restart(director, ctx, name, selector, options)
    stage_name = {"start": "Starting instance", "stop": "Stopping instance"}[action]
    async with director.locks.hold(f"deployment:{name}", ctx.id):
        chosen = select_instances(_rows(director, name), selector)
        stage = ctx.log.stage(stage_name, len(chosen))
        for row in chosen:
            with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
                await _change_one(director, row, action, ctx.log.debug, options.skip_drain)
        _record(director, ctx, name, action, selector)
    return f"{action} done for {len(chosen)} instance(s)"


def _record(director: Director, ctx: TaskContext, name: str, action: str, selector: str | None) -> None:
    with director.sessions.begin() as session:
        session.add(Event(action=action, object_type="instance", object_name=selector or "all",
                          task_id=ctx.id, deployment_name=name))


async def _restart(director: Director, ctx: TaskContext, name: str, selector: str | None,
                   options: InstanceActionOptions) -> str:
    """Canaries one at a time, then batches of max_in_flight per AZ, each batch at once; the
    first failure stops the rollout, as a deploy's does. A dry run prints the order only."""
    async with director.locks.hold(f"deployment:{name}", ctx.id):
        chosen = select_instances(_rows(director, name), selector)
        rollout = restart_rollout(chosen, prepare_deployed(director, name).manifest, options.canaries,
                                  options.max_in_flight)
        if options.dry_run:
            return _restart_plan(ctx, rollout)
        stage = ctx.log.stage("Restarting instance", len(chosen))
        for group in rollout:
            for number, batch in enumerate(group.batches, start=1):
                ctx.log.debug(describe_batch(group.group, number, batch))
                watch = group.update.canary_watch_time if batch.canary else group.update.update_watch_time

                async def restart_one(row: Instance, canary: bool = batch.canary,
                                      watch: tuple[int, int] = watch) -> None:
                    with stage.task(f"{row.group}/{row.uuid} ({row.index}){' (canary)' if canary else ''}"):
                        await _change_one(director, row, "restart", ctx.log.debug, options.skip_drain, watch, name)

                await await_all(restart_one(row) for row in batch.members)
        _record(director, ctx, name, "restart", selector)
    return f"restart done for {len(chosen)} instance(s)"


def _restart_plan(ctx: TaskContext, rollout: list[GroupRollout]) -> str:
    ctx.log.info("Dry run: no VM was touched. The restart would go:")
    planned = []
    for group in rollout:
        for number, batch in enumerate(group.batches, start=1):
            ctx.log.info(f"  {describe_batch(group.group, number, batch)}")
            planned += [{"instance": f"{r.group}/{r.index}", "az": r.az, "action": "restart",
                         "batch": "canary" if batch.canary else f"batch {number}"} for r in batch.members]
    ctx.log.info(f"Plan: {len(planned)} to restart" if planned else "Plan: no instances")
    return json.dumps({"dry_run": True, "instances": planned})


async def _change_one(director: Director, row: Instance, action: str, debug,  # type: ignore[no-untyped-def]
                      skip_drain: bool, watch: tuple[int, int] = (1000, 30000),
                      deployment: str | None = None) -> None:
    if not row.agent_id:
        raise BoshPyError(f"{row.group}/{row.uuid} has no VM; deploy to create it")
    agent = director.agent(row.agent_id)
    if action in ("stop", "restart"):
        await stop_instance(director, row.agent_id, "shutdown" if action == "stop" else "update", debug, False,
                            skip_drain=skip_drain)
    if action in ("start", "restart"):
        await agent.start()
        await wait_until_running(director, row.agent_id, watch, f"{row.group}/{row.uuid}", deployment)
        await agent.run_script("post-start", {})
    with director.sessions.begin() as session:
        session.get(Instance, row.id).state = "stopped" if action == "stop" else "started"


async def fetch_logs(director: Director, ctx: TaskContext, name: str, selector: str | None) -> str:
    """The agent packs the instance's logs into a blob; the CLI downloads it and deletes it.
    A blob nobody downloads is deleted after LOGS_RETENTION, here or by the next fetch."""
    await asyncio.to_thread(delete_expired_logs_blobs, director)
    rows = [r for r in select_instances(_rows(director, name), selector) if r.agent_id]
    if len(rows) != 1:
        raise BoshPyError("Fetch logs from one instance at a time: name it as GROUP/ID or GROUP/INDEX")
    row = rows[0]
    stage = ctx.log.stage("Fetching logs", 1)
    with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
        value = await director.agent(row.agent_id).run("fetch_logs", "job", None)
    blob_id = str(value["blobstore_id"])
    asyncio.get_running_loop().call_later(LOGS_RETENTION, delete_logs_blob, director, blob_id)
    return blob_id


def is_logs_blob(director: Director, blob_id: str) -> bool:
    """True for a blob a finished fetch-logs task produced (and nothing else)."""
    with director.sessions() as session:
        return session.scalars(select(Task.id).where(
            Task.description == FETCH_LOGS, Task.state == "done", Task.result == blob_id)).first() is not None


def delete_logs_blob(director: Director, blob_id: str) -> None:
    try:
        director.blobstore.delete(blob_id)
    except OSError as error:  # retried by the next sweep
        log.warning("Could not delete logs blob %s: %s", blob_id, error)


def delete_expired_logs_blobs(director: Director) -> None:
    """Logs blobs older than the retention (e.g. the director restarted before their timer)."""
    cutoff = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=LOGS_RETENTION)
    with director.sessions() as session:
        blob_ids = list(session.scalars(select(Task.result).where(
            Task.description == FETCH_LOGS, Task.state == "done", Task.ended_at < cutoff)))
    for blob_id in blob_ids:
        if blob_id and director.blobstore.exists(blob_id):
            delete_logs_blob(director, blob_id)


@dataclass(frozen=True)
class SshSession:
    """Who asks for SSH access to which instance, with which one-time public key."""

    deployment: str
    selector: str
    public_key: str
    user: str
    lifetime: int = SSH_KEY_LIFETIME  # seconds the key may be used to log in


def key_fingerprint(public_key: str) -> str:
    """SHA256:... as ssh-keygen -l prints it: what the event log records, never the key."""
    _, blob = checked_public_key(public_key)
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


async def ssh_access(director: Director, request: SshSession, action: str) -> dict:
    """Authorize (setup) or revoke (cleanup) an operator's one-time key on one VM and record
    the event; returns how to reach the VM. The key expires on its own after its lifetime."""
    if action not in ("setup", "cleanup"):
        raise BoshPyError(f"Unknown ssh action '{action}' (setup or cleanup)")
    fingerprint = key_fingerprint(request.public_key)
    rows = [r for r in select_instances(_rows(director, request.deployment), request.selector) if r.vm_cid]
    if len(rows) != 1:
        raise BoshPyError(f"'{request.selector}' must name exactly one instance with a VM (GROUP/ID or GROUP/INDEX)")
    row = rows[0]
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=request.lifetime)

    def change() -> None:
        with PinnedSshClient(row.ip, director.ssh_key.private_key, row.host_public_key).connect(timeout=10) as ssh:
            if action == "setup":
                authorize_key(ssh, request.public_key, expires_at)
            else:
                revoke_key(ssh, request.public_key)

    context = {"user": request.user, "key_fingerprint": fingerprint, "host": row.ip}
    if action == "setup":
        context["key_expires_at"] = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    error: str | None = None
    try:
        await asyncio.to_thread(change)
    except Exception as failure:  # recorded, then reported as it would be without the event
        error = str(failure) or failure.__class__.__name__
        raise
    finally:
        with director.sessions.begin() as session:
            session.add(Event(action=f"{action} ssh", object_type="instance", object_name=f"{row.group}/{row.uuid}",
                              deployment_name=request.deployment, instance=f"{row.group}/{row.uuid}",
                              error=error, context=context))
    return {"host": row.ip, "user": "root", "host_public_key": row.host_public_key,
            "instance": f"{row.group}/{row.uuid}", "key_expires_at": context.get("key_expires_at")}
