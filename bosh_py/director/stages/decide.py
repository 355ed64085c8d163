"""Stage "decide changes": for every planned instance, the named set of changes
(changes.py) against what it runs now; an empty set leaves it alone. Outside a dry run it
also makes the DB rows of new instances, so every later step can record its progress."""

from __future__ import annotations

from sqlalchemy import select

from bosh_py.director import release_store
from bosh_py.director.changes import (ChangeOptions, CurrentInstance, PlannedInstance, describe,
                                      instance_changes, needs_apply, needs_vm)
from bosh_py.director.compiler import CompiledRef
from bosh_py.director.concurrency import await_all
from bosh_py.director.models import Deployment, Instance
from bosh_py.director.planner import DeploymentPlan, GroupPlan, InstancePlan
from bosh_py.director.services import Director
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.drain_stop import agent_responds


def apply_spec(deployment: str, group: GroupPlan, instance: InstancePlan, archives: dict,
               compiled: dict[tuple[str, str], CompiledRef], configuration_hash: str,
               release_versions: dict) -> dict:
    """The spec the agent applies (without the rendered archive, uploaded at apply time)."""
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


def current_of(row: Instance | None) -> CurrentInstance | None:
    """The plain facts change detection needs from an instance row."""
    if row is None:
        return None
    return CurrentInstance(bool(row.vm_cid), row.vm_spec_digest, dict(row.applied_spec or {}), row.state)


def ensure_rows(director: Director, name: str, plan: DeploymentPlan) -> dict[tuple[str, int], int]:
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


async def silent_agents(director: Director, rows: list[Instance]) -> set[int]:
    """`--fix`: the instances whose VM's agent does not answer a ping (they get a new VM)."""
    silent: set[int] = set()

    async def check(row: Instance) -> None:
        if not await agent_responds(director, row.agent_id):
            silent.add(row.id)

    await await_all(check(row) for row in rows if row.vm_cid)
    return silent


async def run(r: DeployRun) -> None:
    assert r.plan is not None
    options = r.options
    current = {row.id: row for row in r.existing}
    silent = await silent_agents(r.director, r.existing) if options.fix else set()
    ids = {} if options.dry_run else ensure_rows(r.director, r.name, r.plan)
    for group in r.plan.groups:
        for instance in group.instances:
            row = current.get(instance.existing_id) if instance.existing_id is not None else None
            if options.only_instance_ids is not None and (row is None or row.id not in options.only_instance_ids):
                continue
            result = r.rendered[(group.name, instance.index)]
            spec = apply_spec(r.name, group, instance, r.archives, r.compiled, result.configuration_hash,
                              r.plan.releases)
            names = instance_changes(
                current_of(row), PlannedInstance(instance.vm_spec, instance.vm_digest, spec, instance.state),
                ChangeOptions(recreate=options.recreate, unresponsive_agent=row is not None and row.id in silent))
            if not names:
                r.unchanged.append(f"{group.name}/{instance.index}")
                continue
            if not options.dry_run:
                r.log.info(f"{group.name}/{instance.index}: {describe(names)}")
            instance_id = ids.get((group.name, instance.index), instance.existing_id or 0)
            r.changes_by_group.setdefault(group.name, []).append(InstanceChange(
                group, instance, instance_id, spec, result.archive, needs_vm(names), needs_apply(names), names))
    obsolete_ids = set(r.plan.obsolete_instance_ids)
    r.obsolete = [row for row in r.existing if row.id in obsolete_ids and options.only_instance_ids is None]
    if not r.changes_by_group and not r.obsolete and not options.dry_run:
        r.log.info("No instances to update: the deployment is already in the desired state")
