"""Stage "plan": the desired state of every instance from manifest, cloud-config, releases
and stemcells; refuses, before anything is touched, what would fail half way (a disk
resize, a disk that cannot follow its instance to another CPI, bad job properties)."""

from __future__ import annotations

from sqlalchemy import select

from bosh_py.director import release_store
from bosh_py.director.links import providers_of
from bosh_py.director.models import Deployment, Instance, PersistentDisk, VmIntent
from bosh_py.director.planner import DeploymentPlan, PlanError, plan_deployment
from bosh_py.director.services import Director
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.update_config import with_flag_overrides


def deployed_state(director: Director, name: str) -> tuple[Deployment | None, list[Instance], set[str]]:
    with director.sessions() as session:
        deployment = session.scalars(select(Deployment).where(Deployment.name == name)).first()
        instances = list(deployment.instances) if deployment else []
        # an orphaned VM (a swap's old VM until deleted, one cck has not deleted yet) holds its IP too
        used = {ip for ip in session.scalars(select(Instance.ip)) if ip} | {
            ip for ip in session.scalars(select(VmIntent.ip).where(VmIntent.vm_cid.is_not(None))) if ip}
        for row in instances:
            session.expunge(row)
        return deployment, instances, used


def refuse_disk_changes(session, plan: DeploymentPlan, existing: list[Instance]) -> None:  # type: ignore[no-untyped-def]
    """Before anything is touched: a disk resize, or a disk whose instance would move to another
    CPI, found later would leave its instance stopped."""
    rows = {(row.group, row.index): row for row in existing}
    for group in plan.groups:
        if group.persistent_disk <= 0:
            continue  # dropping the disk orphans it (steps/mount_disk.py)
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


async def run(r: DeployRun) -> None:
    r.previous, r.existing, used_ips = deployed_state(r.director, r.name)
    own_ips = {i.ip for i in r.existing if i.ip}
    with r.director.sessions() as session:
        plan = plan_deployment(session, r.source.manifest, r.source.cloud_config, r.existing, used_ips - own_ips)
        refuse_disk_changes(session, plan, r.existing)
    for group in plan.groups:
        group.update = with_flag_overrides(group.update, r.options.canaries, r.options.max_in_flight,
                                           len(group.instances))
    r.plan = plan
    r.archives = await release_store.job_archives(r.director, plan)
    release_store.validate_properties(plan, r.archives)
    r.providers = providers_of(r.name, plan.groups, r.archives)
