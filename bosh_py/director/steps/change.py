"""What one instance's update needs to know: the plan, the spec, the archive, and why."""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.director.planner import GroupPlan, InstancePlan
from bosh_py.director.vm_lifecycle import CreatedVm
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
    changes: frozenset[str] = frozenset()  # why (changes.py): logged, and shown by a dry run
    # create-swap-delete (plan.swap): the VM made ahead for the instance, until it takes over,
    # then the VM it replaced, which the deploy deletes when it ends
    new_vm: CreatedVm | None = None
    replaced_vm: CreatedVm | None = None
    # the spec uploaded and prepared on the instance's agent ahead of its turn (steps/prepare_ahead.py),
    # taken by its update; one never taken has its archive deleted when the group's rollout ends
    prepared_spec: dict | None = None
