"""What a deploy was asked (DeployOptions) and what its stages have found so far (DeployRun)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bosh_py.director.compiler import CompiledRef
from bosh_py.director.event_log import TaskLog
from bosh_py.director.manifest_input import DeploymentInput
from bosh_py.director.models import Deployment, Instance
from bosh_py.director.planner import DeploymentPlan
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.tasks import TaskContext
from bosh_py.release.render import RenderedInstance


@dataclass
class DeployOptions:
    """The deploy flags (CLI and API), as BOSH's `deploy` has them."""

    recreate: bool = False  # recreate every VM
    dry_run: bool = False  # plan, render, validate and print the plan; touch no VM
    only_instance_ids: set[int] | None = None  # `bosh-py recreate GROUP/ID`: touch just these
    fix: bool = False  # recreate instances whose agent does not answer instead of failing
    skip_drain: bool = False  # stop without running drain scripts
    canaries: int | str | None = None  # overrides every group's update.canaries
    max_in_flight: int | str | None = None  # overrides every group's update.max_in_flight


@dataclass
class DeployRun:
    director: Director
    ctx: TaskContext
    source: DeploymentInput
    options: DeployOptions
    previous: Deployment | None = None
    existing: list[Instance] = field(default_factory=list)
    plan: DeploymentPlan | None = None
    archives: dict = field(default_factory=dict)
    providers: dict = field(default_factory=dict)
    rendered: dict[tuple[str, int], RenderedInstance] = field(default_factory=dict)
    compiled: dict[tuple[str, str], CompiledRef] = field(default_factory=dict)
    changes_by_group: dict[str, list[InstanceChange]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)  # instance names the deploy leaves as they are
    obsolete: list[Instance] = field(default_factory=list)
    result: str | None = None  # set by a stage that ends the deploy early (a dry run)

    @property
    def name(self) -> str:
        return str(self.source.manifest["name"])

    @property
    def log(self) -> TaskLog:
        return self.ctx.log

    def all_changes(self) -> list[InstanceChange]:
        return [change for changes in self.changes_by_group.values() for change in changes]

