"""What one instance's update needs to know: the plan, the spec, the archive, and why."""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.director.planner import GroupPlan, InstancePlan
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
