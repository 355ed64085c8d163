"""The run-errand task: `bosh-py run-errand NAME` (BOSH's Jobs::RunErrand).

Under the deployment's lock: plan the stored manifest with its errand instances, find where
NAME runs (``errands.resolve``), give a ``lifecycle: errand`` group VMs (created, disk,
apply, no start: an errand job has nothing to supervise), run each errand job's ``bin/run``
through the agent's ``run_errand`` on every chosen instance in parallel, optionally fetch
the errand jobs' logs, then delete the errand VMs (unless ``keep_alive``), also when
anything failed or the task was cancelled. A non-zero exit code is a result (the task is
done; the CLI exits non-zero), as in BOSH.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bosh_py.director import errands, release_store
from bosh_py.director.compiler import compile_packages
from bosh_py.director.concurrency import await_all
from bosh_py.director.errands import ErrandError, ErrandTarget, InstanceRef
from bosh_py.director.instance_updater import InstanceChange, update_instance
from bosh_py.director.jobs.deploy import (
    apply_spec,
    compilation_vm_factory,
    deployed_state,
    instance_spec,
    packages_needed,
    delete_instance,
)
from bosh_py.director.links import providers_of, resolve_links
from bosh_py.director.jobs.deployment_actions import prepare_deployed
from bosh_py.director.models import Deployment, Event, Instance
from bosh_py.director.planner import (
    DeploymentPlan,
    GroupPlan,
    InstancePlan,
    plan_deployment,
)
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError

DESCRIPTION = "run errand"  # task descriptions start with it: the API finds errand logs blobs by it
PARALLEL = 8  # instances running an errand at once


@dataclass(frozen=True)
class ErrandRequest:
    name: str
    instances: tuple[str, ...] = ()  # --instance selectors
    keep_alive: bool = False
    download_logs: bool = False
    timeout: float | None = None  # seconds each bin/run may take


@dataclass
class ErrandRun:
    """One errand job on one instance: what the CLI shows."""

    instance: str
    index: int
    job: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # the run could not happen (no agent, agent failure)
    logs_blob_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0


@dataclass
class _Placement:
    """Where a target's jobs run: instance rows (colocated) or planned instances (lifecycle errand)."""

    target: ErrandTarget
    group: GroupPlan
    chosen: list[InstanceRef] = field(default_factory=list)


def _load(director: Director, name: str) -> tuple[Any, list[Instance], set[str]]:
    source = prepare_deployed(director, name)
    _, existing, used_ips = deployed_state(director, name)
    return source, existing, used_ips


def _groups_for_rules(plan: DeploymentPlan, archives: dict) -> list[errands.GroupJobs]:
    lifecycle = {g.name: g.lifecycle for g in plan.groups}
    doc = {"instance_groups": [{"name": g.name, "lifecycle": lifecycle[g.name],
                                "jobs": [{"name": j.name, "release": j.release} for j in g.jobs]}
                               for g in plan.groups]}
    return errands.group_jobs(doc, lambda release, job: errands.is_errand_job(archives[(release, job)].spec.templates))


def _place(plan: DeploymentPlan, targets: list[ErrandTarget], rows: list[Instance],
           request: ErrandRequest) -> list[_Placement]:
    groups = {g.name: g for g in plan.groups}
    placements = [_Placement(t, groups[t.group]) for t in targets]
    refs: dict[str, list[InstanceRef]] = {}
    for placement in placements:
        if placement.target.lifecycle == "errand":
            refs[placement.group.name] = [InstanceRef(i.group, i.uuid, i.index) for i in placement.group.instances]
        else:  # colocated: where the job already runs
            refs[placement.group.name] = [InstanceRef(r.group, r.uuid, r.index) for r in rows
                                          if r.group == placement.group.name and r.vm_cid]
    chosen = errands.select(refs, list(request.instances), request.name)
    if not chosen:
        raise ErrandError(f"Errand '{request.name}' has no instance to run on (instance groups "
                          f"{', '.join(t.group for t in targets)} have no instances with a VM)")
    for placement in placements:
        placement.chosen = [ref for ref in chosen if ref.group == placement.group.name]
    return [p for p in placements if p.chosen]


async def _prepare_errand_vms(director: Director, ctx: TaskContext, name: str, plan: DeploymentPlan,
                              archives: dict, placement: _Placement, created: list[int]) -> dict[str, int]:
    """Render, compile, create or reuse the VMs of a lifecycle-errand group, apply; returns
    row ids by instance name. Every row made is added to ``created`` at once, so the caller
    deletes it whatever fails later."""
    group = placement.group
    wanted = {ref.uuid for ref in placement.chosen}
    instances = [i for i in group.instances if i.uuid in wanted]
    providers = providers_of(name, plan.groups, archives)
    links = {job.name: resolve_links(group.name, job, archives[(job.release, job.name)], providers,
                                     f"instance_groups/{group.name}/jobs/{position}")
             for position, job in enumerate(group.jobs)}
    rendered = await release_store.render_instances(
        archives, [(group, instance_spec(name, group, i), links) for i in instances],
        processes=director.renderers)
    compiled = await compile_packages(
        director, packages_needed(director, plan, archives, group.jobs), group.stemcell,
        int(plan.compilation.get("workers", 1)),
        compilation_vm_factory(director, plan, group.stemcell, ctx.log.debug), ctx.log)
    ids = _ensure_rows(director, name, instances, created)
    stage = ctx.log.stage("Creating errand vms", len(instances), [group.name])
    limit = asyncio.Semaphore(PARALLEL)

    async def prepare(instance: InstancePlan) -> None:
        result = rendered[(group.name, instance.index)]
        spec = apply_spec(name, group, instance, archives, compiled, result.configuration_hash, plan.releases)
        not_started = dataclasses.replace(instance, state="stopped")  # apply only: nothing to supervise
        change = InstanceChange(group, not_started, ids[instance.uuid], spec, result.archive, True, True)
        with director.sessions() as session:
            row = session.get(Instance, ids[instance.uuid])
            change.needs_vm = not row.vm_cid or row.vm_spec_digest != instance.vm_digest
        async with limit:
            with stage.task(f"{instance.name} ({instance.index})"):
                await update_instance(director, change, name, (0, 0), ctx.log.debug)

    await await_all(prepare(i) for i in instances)
    return {f"{group.name}/{uuid}": row_id for uuid, row_id in ids.items()}


def _ensure_rows(director: Director, name: str, instances: list[InstancePlan], created: list[int]) -> dict[str, int]:
    ids: dict[str, int] = {}
    with director.sessions.begin() as session:
        deployment = session.scalars(select(Deployment).where(Deployment.name == name)).one()
        for instance in instances:
            if instance.existing_id is not None:  # kept alive by an earlier run
                ids[instance.uuid] = instance.existing_id
                continue
            row = Instance(deployment_id=deployment.id, group=instance.group, index=instance.index,
                           uuid=instance.uuid, az=instance.az, bootstrap=instance.bootstrap, state="started",
                           ip=instance.ip, applied_spec={})
            session.add(row)
            session.flush()
            ids[instance.uuid] = row.id
            created.append(row.id)
    return ids


async def _run_on_agent(director: Director, agent_id: str, job: str, timeout: float | None) -> dict:
    """Call run_errand and poll its task; a cancelled director task cancels the agent's."""
    agent = director.agent(agent_id)
    options: dict[str, Any] = {"timeout": timeout} if timeout else {}
    value = await agent.call("run_errand", job, options)
    task_id = value.get("agent_task_id") if isinstance(value, dict) else None
    try:
        delay = 0.05
        while isinstance(value, dict) and value.get("state") == "running" and task_id:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            value = await agent.call("get_task", task_id)
    except asyncio.CancelledError:
        with suppress(BoshPyError, asyncio.CancelledError):
            await asyncio.shield(agent.call("cancel_task", task_id, timeout=5))
        raise
    return value


async def _run_one(director: Director, ctx: TaskContext, row: Instance, job: str, request: ErrandRequest,
                   stage: Any) -> ErrandRun:
    run = ErrandRun(f"{row.group}/{row.uuid}", row.index, job)
    with stage.task(f"{run.instance} ({row.index}): {job}"):
        if not row.agent_id:
            run.error = f"{run.instance} has no VM"
            return run
        try:
            value = await _run_on_agent(director, row.agent_id, job, request.timeout)
            run.exit_code = int(value["exit_code"])
            run.stdout, run.stderr = str(value.get("stdout", "")), str(value.get("stderr", ""))
        except BoshPyError as error:
            run.error = str(error)
        if request.download_logs:
            try:
                logs = await director.agent(row.agent_id).run("fetch_logs", "job", [f"{job}/*"])
                run.logs_blob_id = str(logs["blobstore_id"])
            except BoshPyError as error:
                ctx.log.debug(f"Fetching the logs of {job} on {run.instance}: {error}")
                run.error = run.error or f"fetching the errand's logs failed: {error}"
    return run


async def _delete_errand_vms(director: Director, ctx: TaskContext, row_ids: list[int]) -> None:
    """Stop and delete the errand VMs and forget their instances; never raises, so the
    task's own result or failure is what the operator sees."""
    for row_id in row_ids:
        with director.sessions() as session:
            row = session.get(Instance, row_id)
            if row is None:
                continue
            session.expunge(row)
        archive = ((row.applied_spec or {}).get("rendered_templates_archive") or {}).get("blobstore_id")
        try:
            await delete_instance(director, row, ctx.log.debug)
            if archive:
                director.blobstore.delete(archive)
        except Exception as error:  # noqa: BLE001 - reported, the others are still deleted
            ctx.log.error(f"Deleting errand VM of {row.group}/{row.uuid} failed: {error} "
                          f"(`bosh-py run-errand` or a deploy retries)")


async def run_errand(director: Director, ctx: TaskContext, name: str, request: ErrandRequest) -> str:
    async with director.locks.hold(f"deployment:{name}", ctx.id):
        source, existing, used_ips = _load(director, name)
        own_ips = {i.ip for i in existing if i.ip}
        with director.sessions() as session:
            plan = plan_deployment(session, source.manifest, source.cloud_config, existing, used_ips - own_ips,
                                   errands=True)
        archives = await release_store.job_archives(director, plan)
        targets = errands.resolve(request.name, _groups_for_rules(plan, archives), name)
        placements = _place(plan, targets, existing, request)
        created: list[int] = []  # errand instance rows made by this run
        lifecycle_rows: list[int] = []  # every lifecycle-errand row this run uses (kept alive ones too)
        runs: list[ErrandRun] = []
        try:
            rows_by_name = {f"{r.group}/{r.uuid}": r.id for r in existing}
            for placement in placements:
                if placement.target.lifecycle == "errand":
                    release_store.validate_properties(_only(plan, placement.group), archives)
                    ids = await _prepare_errand_vms(director, ctx, name, plan, archives, placement, created)
                    rows_by_name.update(ids)
                    lifecycle_rows.extend(ids.values())
            work: list[tuple[Instance, str]] = []
            for placement in placements:
                for ref in placement.chosen:
                    row = _row(director, rows_by_name[ref.name])
                    work.extend((row, job) for job in placement.target.jobs)
            stage = ctx.log.stage(f"Running errand {request.name}", len(work))
            limit = asyncio.Semaphore(PARALLEL)

            async def one(row: Instance, job: str) -> ErrandRun:
                async with limit:
                    return await _run_one(director, ctx, row, job, request, stage)

            runs = list(await asyncio.gather(*(one(row, job) for row, job in work)))
        finally:
            if request.keep_alive:
                if lifecycle_rows:
                    ctx.log.info(f"Keeping {len(lifecycle_rows)} errand VM(s) alive (--keep-alive)")
            else:
                doomed = list(dict.fromkeys(lifecycle_rows + created))
                if doomed:
                    await asyncio.shield(_delete_errand_vms(director, ctx, doomed))
        _record(director, ctx, name, request, runs)
    return json.dumps({"errand": request.name, "deployment": name,
                       "runs": [dataclasses.asdict(r) for r in runs]})


def _only(plan: DeploymentPlan, group: GroupPlan) -> DeploymentPlan:
    return dataclasses.replace(plan, groups=[group])


def _row(director: Director, row_id: int) -> Instance:
    with director.sessions() as session:
        row = session.get(Instance, row_id)
        if row is None:
            raise BoshPyError(f"Instance {row_id} disappeared while the errand was being prepared")
        session.expunge(row)
        return row


def _record(director: Director, ctx: TaskContext, name: str, request: ErrandRequest, runs: list[ErrandRun]) -> None:
    failed = [r for r in runs if not r.ok]
    context = {"errand": request.name, "exit_codes": {f"{r.instance}:{r.job}": r.exit_code for r in runs}}
    with director.sessions.begin() as session:
        session.add(Event(action="run", object_type="errand", object_name=request.name, task_id=ctx.id,
                          deployment_name=name, context=context,
                          error=(f"{len(failed)} of {len(runs)} run(s) failed") if failed else None))

