"""Stage "plan swaps": instance groups with ``update.vm_strategy: create-swap-delete`` get
their replacement VMs on new addresses, decided before the templates are rendered so that
the instance's own templates and every link to it name the address it will have.

An instance is swapped when its VM must be replaced (changes.vm_outdated: stemcell, cloud
properties, networks, env, CPI, --recreate) and none of its networks gives it a static IP
(the old VM holds the IP until it is deleted; BOSH's rule). A subnet with no spare address
leaves the instance to delete-create, and the task log says so."""

from __future__ import annotations

from bosh_py.director.changes import ChangeOptions, vm_outdated
from bosh_py.director.planner import readdress
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.stages.decide import current_of

SWAP = "create-swap-delete"


async def run(r: DeployRun) -> None:
    assert r.plan is not None
    rows = {row.id: row for row in r.existing}
    options = ChangeOptions(recreate=r.options.recreate)
    for group in r.plan.groups:
        if group.update.vm_strategy != SWAP:
            continue
        for instance in group.instances:
            row = rows.get(instance.existing_id) if instance.existing_id is not None else None
            if row is None or instance.static_ip:
                continue
            if r.options.only_instance_ids is not None and row.id not in r.options.only_instance_ids:
                continue
            if not vm_outdated(current_of(row), instance.vm_digest, options):
                continue
            if not readdress(r.plan.ip_allocator, r.source.cloud_config, group, instance):
                r.log.info(f"{group.name}/{instance.index}: no spare IP for {SWAP}; its VM is deleted, "
                           f"then made again")
