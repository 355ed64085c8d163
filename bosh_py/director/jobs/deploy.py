"""The deploy task: manifest + cloud-config + releases + stemcells → running instances.

Order, as BOSH does it: lock → plan → render → compile → create missing VMs in parallel →
per instance group canaries then batches of max_in_flight (groups one after another unless
``serial: false``) → delete what the manifest no longer has → record the manifest.
A deploy with nothing to change touches no VM and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select

from bosh_py.director import release_store
from bosh_py.director.concurrency import await_all
from bosh_py.director.compiler import CompiledRef, SourcePackage, StemcellRef, compile_packages
from bosh_py.director.instance_updater import (InstanceChange, agent_responds, delete_instance_vm,
                                               ensure_vm, stop_instance, update_instance)
from bosh_py.director.links import providers_of, resolve_links
from bosh_py.director.manifest_input import DeploymentInput
from bosh_py.director.models import Deployment, Event, Instance, Package, PersistentDisk
from bosh_py.director.orphan_disks import orphan
from bosh_py.director.planner import (DeploymentPlan, GroupPlan, InstancePlan, PlanError, plan_deployment,
                                      stemcell_cid_in)
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.director.vm_lifecycle import VmRequest, create_vm, delete_vm
from bosh_py.release.render import RenderedInstance
from bosh_py.errors import BoshPyError


@dataclass
class DeployOptions:
    recreate: bool = False
    dry_run: bool = False
    only_instance_ids: set[int] | None = None  # `bosh-py recreate GROUP/ID`: touch just these


def deployed_state(director: Director, name: str) -> tuple[Deployment | None, list[Instance], set[str]]:
    with director.sessions() as session:
        deployment = session.scalars(select(Deployment).where(Deployment.name == name)).first()
        instances = list(deployment.instances) if deployment else []
        used = {ip for ip in session.scalars(select(Instance.ip)) if ip}
        for row in instances:
            session.expunge(row)
        return deployment, instances, used


def packages_needed(director: Director, plan: DeploymentPlan, archives: dict,
                     jobs: list) -> dict[tuple[str, str], SourcePackage]:
    """The packages the given jobs use, with all their dependencies, from the releases."""
    needed: dict[tuple[str, str], SourcePackage] = {}
    wanted = [(job.release, pkg) for job in jobs for pkg in archives[(job.release, job.name)].spec.packages]
    with director.sessions() as session:
        while wanted:
            release_name, name = wanted.pop()
            if (release_name, name) in needed:
                continue
            listed = {p["name"]: p for p in plan.releases[release_name].manifest.get("packages", [])}
            entry = listed.get(name)
            if entry is None:
                raise BoshPyError(f"Release '{release_name}' has no package '{name}'")
            row = session.scalars(select(Package).where(
                Package.release_name == release_name, Package.name == name,
                Package.fingerprint == entry["fingerprint"])).first()
            if row is None:
                raise BoshPyError(f"Package '{name}' of release '{release_name}' is missing its blob")
            needed[(release_name, name)] = SourcePackage(release_name, name, row.fingerprint,
                                                        tuple(row.dependencies or []), row.blobstore_id, row.sha1)
            wanted.extend((release_name, dep) for dep in row.dependencies or [])
    return needed


def apply_spec(deployment: str, group: GroupPlan, instance: InstancePlan, archives: dict,
                compiled: dict[tuple[str, str], CompiledRef], configuration_hash: str,
                release_versions: dict) -> dict:
    packages = {}
    for job in group.jobs:
        for name in archives[(job.release, job.name)].spec.packages:
            packages[name] = compiled[(job.release, name)].as_spec()
    templates = [{"name": job.name, "version": release_store.job_fingerprint(release_versions[job.release], job.name)}
                 for job in group.jobs]
    return {
        "deployment": deployment, "name": group.name, "id": instance.uuid, "index": instance.index,
        "az": instance.az, "bootstrap": instance.bootstrap, "networks": instance.networks,
        "job": {"name": group.name, "templates": templates}, "packages": packages,
        "configuration_hash": configuration_hash, "persistent_disk": group.persistent_disk,
    }


def instance_spec(deployment: str, group: GroupPlan, instance: InstancePlan) -> dict:
    return {"name": group.name, "id": instance.uuid, "index": instance.index, "az": instance.az,
            "deployment": deployment, "bootstrap": instance.bootstrap, "address": instance.ip,
            "ip": instance.ip, "networks": instance.networks, "job": {"name": group.name},
            "persistent_disk": group.persistent_disk}


def spec_identity(spec: dict) -> str:
    payload = {k: v for k, v in (spec or {}).items() if k != "rendered_templates_archive"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _refuse_disk_changes(session, plan: DeploymentPlan, existing: list[Instance]) -> None:
    """Before anything is touched: a disk resize, or a disk whose instance would move to another
    CPI, found later would leave its instance stopped."""
    rows = {(row.group, row.index): row for row in existing}
    for group in plan.groups:
        if group.persistent_disk <= 0:
            continue  # dropping the disk orphans it (instance_updater.ensure_disk)
        for instance in group.instances:
            row = rows.get((group.name, instance.index))
            disk = row and session.scalars(select(PersistentDisk).where(
                PersistentDisk.instance_id == row.id, PersistentDisk.active.is_(True))).first()
            if disk and disk.size != group.persistent_disk:
                raise PlanError(
                    f"instance_groups/{group.name}: changing the persistent disk size ({disk.size} MB -> "
                    f"{group.persistent_disk} MB) is not supported yet; the disk was left as it is")
            if disk and disk.cpi != instance.cpi:
                raise PlanError(
                    f"instance_groups/{group.name}: {instance.name} would move from CPI '{disk.cpi}' to "
                    f"'{instance.cpi}' (az '{instance.az}'), but its persistent disk {disk.cid} lives in "
                    f"'{disk.cpi}' and cannot follow; nothing was changed")


def _ensure_rows(director: Director, name: str, plan: DeploymentPlan) -> dict[tuple[str, int], int]:
    """Create DB rows for new instances (no VM yet) so every later step can record progress."""
    ids: dict[tuple[str, int], int] = {}
    with director.sessions.begin() as session:
        deployment = session.scalars(select(Deployment).where(Deployment.name == name)).first()
        if deployment is None:
            deployment = Deployment(name=name, manifest_text="")
            session.add(deployment)
            session.flush()
        for group in plan.groups:
            for instance in group.instances:
                if instance.existing_id is not None:
                    row = session.get(Instance, instance.existing_id)
                    row.bootstrap = instance.bootstrap
                else:
                    row = Instance(deployment_id=deployment.id, group=group.name, index=instance.index,
                                   uuid=instance.uuid, az=instance.az, bootstrap=instance.bootstrap,
                                   state=instance.state, ip=instance.ip, applied_spec={})
                    session.add(row)
                    session.flush()
                ids[(group.name, instance.index)] = row.id
    return ids


async def _run_batches(changes: list[InstanceChange], group: GroupPlan, update_one) -> None:
    """Canaries one batch, then the rest in batches of max_in_flight; stop at the first failure."""
    canaries = changes[: group.update.canaries]
    rest = changes[group.update.canaries:]
    for canary in canaries:
        await update_one(canary, group.update.canary_watch_time, canary=True)
    size = max(1, group.update.max_in_flight)
    for start in range(0, len(rest), size):
        batch = rest[start: start + size]
        await await_all(update_one(c, group.update.update_watch_time, canary=False) for c in batch)


async def deploy(director: Director, ctx: TaskContext, source: DeploymentInput, options: DeployOptions) -> str:
    log = ctx.log
    manifest, cloud_config, cloud_config_id = source.manifest, source.cloud_config, source.cloud_config_id
    name = manifest["name"]
    async with director.locks.hold(f"deployment:{name}", ctx.id):
        previous, existing, used_ips = deployed_state(director, name)
        own_ips = {i.ip for i in existing if i.ip}
        with director.sessions() as session:
            plan = plan_deployment(session, manifest, cloud_config, existing, used_ips - own_ips)
            _refuse_disk_changes(session, plan, existing)
        archives = await release_store.job_archives(director, plan)
        release_store.validate_properties(plan, archives)
        providers = providers_of(name, plan.groups, archives)

        to_render = []
        for group in plan.groups:
            links = {job.name: resolve_links(group.name, job, archives[(job.release, job.name)], providers,
                                             f"instance_groups/{group.name}/jobs/{position}")
                     for position, job in enumerate(group.jobs)}
            to_render += [(group, instance_spec(name, group, instance), links) for instance in group.instances]
        rendered: dict[tuple[str, int], RenderedInstance] = await release_store.render_instances(
            archives, to_render, {release: version.version for release, version in plan.releases.items()})
        if options.dry_run:
            return "Dry run: the manifest plans, renders and validates"

        jobs_by_stemcell: dict[StemcellRef, list] = {}
        for group in plan.groups:
            jobs_by_stemcell.setdefault(group.stemcell, []).extend(group.jobs)
        compiled: dict[tuple[str, str], CompiledRef] = {}
        for stemcell, jobs in jobs_by_stemcell.items():
            compiled.update(await compile_packages(
                director, packages_needed(director, plan, archives, jobs), stemcell,
                int(plan.compilation.get("workers", 1)),
                compilation_vm_factory(director, plan, stemcell, log.debug), log))

        ids = _ensure_rows(director, name, plan)
        current = {i.id: i for i in existing}
        changes_by_group: dict[str, list[InstanceChange]] = {}
        for group in plan.groups:
            for instance in group.instances:
                row = current.get(ids[(group.name, instance.index)])
                result = rendered[(group.name, instance.index)]
                spec = apply_spec(name, group, instance, archives, compiled, result.configuration_hash, plan.releases)
                instance_id = ids[(group.name, instance.index)]
                if options.only_instance_ids is not None and instance_id not in options.only_instance_ids:
                    continue
                has_vm = bool(row and row.vm_cid)
                needs_vm = options.recreate or not has_vm or row.vm_spec_digest != instance.vm_digest
                needs_apply = not row or spec_identity(row.applied_spec) != spec_identity(spec)
                if needs_vm or needs_apply:
                    changes_by_group.setdefault(group.name, []).append(InstanceChange(
                        group, instance, instance_id, spec, result.archive, needs_vm, needs_apply))

        obsolete = [i for i in existing if i.id in set(plan.obsolete_instance_ids)
                    and options.only_instance_ids is None]
        if not changes_by_group and not obsolete:
            log.info("No instances to update: the deployment is already in the desired state")
        else:
            await _create_missing_vms(director, name, changes_by_group, log)
            await _update_groups(director, name, plan, changes_by_group, log, manifest.get("update") or {})
            if obsolete:
                await _delete_instances(director, obsolete, log)
            await _post_deploy(director, [c for changes in changes_by_group.values() for c in changes])

        with director.sessions.begin() as session:
            deployment = session.scalars(select(Deployment).where(Deployment.name == name)).first()
            deployment.manifest_text = source.manifest_text
            deployment.cloud_config_id = cloud_config_id
            deployment.runtime_config_ids = list(source.runtime_config_ids)
            session.add(Event(action="update" if previous else "create", object_type="deployment",
                              object_name=name, task_id=ctx.id, deployment_name=name))
    return f"/deployments/{name}"


def compilation_vm_factory(director: Director, plan: DeploymentPlan, stemcell: StemcellRef, debug):
    async def create(number: int):
        stemcell_cid = stemcell_cid_in(stemcell, plan.compilation_cpi, "cloud-config/compilation/az")
        ip = plan.ip_allocator.next_dynamic(plan.compilation_subnet, "cloud-config/compilation")
        networks = {plan.compilation_subnet.network: plan.compilation_subnet.settings(ip)}
        vm = await create_vm(director, VmRequest(
            stemcell_cid, plan.compilation["cloud_properties"], networks, dict(plan.compilation.get("env") or {}),
            {"deployment": plan.name, "compiling": "true", "name": f"compilation-{number}",
             "director": director.config.name}, plan.compilation_cpi), debug)

        async def delete() -> None:
            await delete_vm(director, vm.cid, vm.agent_id, debug, vm.cpi)
            plan.ip_allocator.release(vm.ip)

        return vm.agent_id, delete

    return create


async def _create_missing_vms(director: Director, name: str, changes_by_group: dict, log) -> None:
    missing = [c for changes in changes_by_group.values() for c in changes if c.needs_vm]
    fresh = []
    with director.sessions() as session:
        for change in missing:
            row = session.get(Instance, change.instance_id)
            if row.vm_cid is None:
                fresh.append(change)
    if not fresh:
        return
    stage = log.stage("Creating missing vms", len(fresh))
    limit = asyncio.Semaphore(8)

    async def create(change: InstanceChange) -> None:
        async with limit:
            with stage.task(f"{change.plan.name} ({change.plan.index})"):
                await ensure_vm(director, change, name, log.debug)
        change.needs_vm = False

    await await_all(create(c) for c in fresh)


async def _update_groups(director: Director, name: str, plan: DeploymentPlan, changes_by_group: dict,
                         log, deployment_update: dict) -> None:
    async def update_group(group: GroupPlan) -> None:
        changes = changes_by_group.get(group.name) or []
        if not changes:
            return
        stage = log.stage("Updating instance", len(changes), [group.name])

        async def update_one(change: InstanceChange, watch, canary: bool) -> None:
            label = f"{change.plan.name} ({change.plan.index}){' (canary)' if canary else ''}"
            with stage.task(label):
                await update_instance(director, change, name, watch, log.debug)

        await _run_batches(changes, group, update_one)

    serial = deployment_update.get("serial", True)
    if serial:
        for group in plan.groups:
            await update_group(group)
    else:
        await await_all(update_group(g) for g in plan.groups)


async def _post_deploy(director: Director, changes: list[InstanceChange]) -> None:
    """Each updated, running instance's jobs get their `post-deploy` once the whole
    deployment is done (a job without the script is skipped by the agent)."""
    agent_ids = []
    with director.sessions() as session:
        for change in changes:
            row = session.get(Instance, change.instance_id)
            if row is not None and row.agent_id and change.plan.state == "started":
                agent_ids.append(row.agent_id)
    await asyncio.gather(*(director.agent(agent_id).run("run_script", "post-deploy", {}) for agent_id in agent_ids))


async def _delete_instances(director: Director, instances: list[Instance], log) -> None:
    stage = log.stage("Deleting unneeded instances", len(instances))

    async def delete(row: Instance) -> None:
        with stage.task(f"{row.group}/{row.uuid} ({row.index})"):
            await delete_instance(director, row, log.debug)

    await await_all(delete(r) for r in instances)


async def delete_instance(director: Director, row: Instance, debug) -> None:
    """Stop, delete the VM, orphan the persistent disks (detached, kept: see
    orphan_disks.py), forget the instance. Never deletes a disk."""
    if row.vm_cid:
        if await agent_responds(director, row.agent_id):
            await stop_instance(director, row.agent_id, "shutdown", debug, tolerate_unresponsive=True)
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
