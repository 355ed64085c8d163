"""The deploy task: manifest + cloud-config + releases + stemcells → running instances.

A list of named stages (bosh_py/director/stages), run in order under the deployment's lock,
as BOSH's update_stage.rb reads. ``delete_leftover_vms`` runs first, so VMs a killed earlier
task of this deployment left go before they block their IPs; ``delete_orphaned_vms`` runs
last whatever happened, so VMs that create-swap-delete replaced (or made for swaps a failed
rollout never reached) go. Each instance's reason to change is a named set (changes.py)
logged as "web/0: network, configuration"; a dry run stops after deciding and prints the
plan. A deploy with nothing to change touches no VM and says so. Each stage's time goes to
the debug log ("Timing stage render: 0.120 s"; bench/deploy.py reads them).
"""

from __future__ import annotations

import asyncio
import time
from types import ModuleType

from bosh_py.director.manifest_input import DeploymentInput
from bosh_py.director.services import Director
from bosh_py.director.stages import (compile, create_missing_vms, decide, delete_leftover_vms, delete_obsolete,
                                     delete_orphaned_vms, dry_run_plan, plan, plan_swaps, post_deploy, record, render,
                                     update_groups)
from bosh_py.director.stages.compile import compilation_vm_factory, packages_needed
from bosh_py.director.stages.context import DeployOptions, DeployRun
from bosh_py.director.stages.decide import apply_spec, current_of
from bosh_py.director.stages.delete_obsolete import delete_instance
from bosh_py.director.stages.plan import deployed_state
from bosh_py.director.stages.render import instance_spec
from bosh_py.director.tasks import TaskContext

STAGES = (delete_leftover_vms, plan, plan_swaps, render, compile, decide, dry_run_plan, create_missing_vms,
          update_groups, delete_obsolete, post_deploy, record)

__all__ = ["DeployOptions", "STAGES", "apply_spec", "compilation_vm_factory", "current_of", "delete_instance",
           "deploy", "deployed_state", "instance_spec", "packages_needed"]


def stage_name(stage: ModuleType) -> str:
    return stage.__name__.rsplit(".", 1)[-1]


async def deploy(director: Director, ctx: TaskContext, source: DeploymentInput, options: DeployOptions) -> str:
    run = DeployRun(director, ctx, source, options)
    async with director.locks.hold(f"deployment:{run.name}", ctx.id):
        try:
            for stage in STAGES:
                started = time.perf_counter()
                await stage.run(run)
                run.log.debug(f"Timing stage {stage_name(stage)}: {time.perf_counter() - started:.3f} s")
                if run.result is not None:
                    break
        finally:
            await asyncio.shield(delete_orphaned_vms.run(run))
    assert run.result is not None
    return run.result
