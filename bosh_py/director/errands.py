"""Which errands a deployment has and where `run-errand NAME` runs, by BOSH's rules.

Pure functions of the manifest's instance groups and of which jobs ship ``bin/run``, so
the rules are tested without a director or a VM:

- a job is an errand when one of its templates has the destination ``bin/run``;
- an instance group with ``lifecycle: errand`` has no VMs after a deploy; run by its own
  name, it gets VMs for the run, and every errand job on it runs;
- run by a job name, that job runs on every instance whose group has it (in place on
  service instances: a colocated errand), unless ``--instance`` picks some;
- a lifecycle-errand group named NAME wins over a job named NAME, as in BOSH.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bosh_py.errors import BoshPyError

ERRAND_SCRIPT = "bin/run"


class ErrandError(BoshPyError):
    pass


@dataclass(frozen=True)
class GroupJobs:
    """One instance group as the errand rules see it."""

    name: str
    lifecycle: str  # "service" or "errand"
    jobs: tuple[str, ...]  # job names, in manifest order
    errand_jobs: tuple[str, ...]  # those with bin/run


@dataclass(frozen=True)
class ErrandTarget:
    """Run ``jobs`` on the (selected) instances of ``group``."""

    group: str
    lifecycle: str
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class InstanceRef:
    group: str
    uuid: str
    index: int

    @property
    def name(self) -> str:
        return f"{self.group}/{self.uuid}"


def is_errand_job(templates: dict[str, str]) -> bool:
    """``templates`` maps a job spec's template files to their destinations."""
    return ERRAND_SCRIPT in {str(dest).strip("/") for dest in templates.values()}


def group_jobs(manifest: dict, has_run: Callable[[str, str], bool]) -> list[GroupJobs]:
    """The manifest's instance groups; ``has_run(release, job)`` says whether a job has bin/run."""
    groups = []
    for group in manifest.get("instance_groups") or []:
        jobs = [(job["release"], job["name"]) for job in group.get("jobs") or []]
        groups.append(GroupJobs(group["name"], group.get("lifecycle", "service"), tuple(name for _, name in jobs),
                                tuple(name for release, name in jobs if has_run(release, name))))
    return groups


def errand_names(groups: Iterable[GroupJobs]) -> list[str]:
    """What `bosh-py errands` lists: lifecycle-errand groups and every job with bin/run."""
    names: set[str] = set()
    for group in groups:
        if group.lifecycle == "errand" and group.errand_jobs:
            names.add(group.name)
        names.update(group.errand_jobs)
    return sorted(names)


def resolve(name: str, groups: list[GroupJobs], deployment: str) -> list[ErrandTarget]:
    """Where errand ``name`` runs; a name that is no errand is an error listing the errands."""
    by_name = {g.name: g for g in groups}
    known = ", ".join(errand_names(groups)) or "none"
    group = by_name.get(name)
    if group is not None and group.lifecycle == "errand":
        if not group.errand_jobs:
            raise ErrandError(f"Instance group '{name}' has lifecycle errand but none of its jobs "
                              f"({', '.join(group.jobs) or 'none'}) has a template with destination {ERRAND_SCRIPT}")
        return [ErrandTarget(name, "errand", group.errand_jobs)]
    targets = [ErrandTarget(g.name, g.lifecycle, (name,)) for g in groups if name in g.errand_jobs]
    if targets:
        return targets
    if group is not None:
        raise ErrandError(f"Instance group '{name}' is not an errand: set `lifecycle: errand` on it, or run a job "
                          f"that has {ERRAND_SCRIPT} (errands of deployment '{deployment}': {known})")
    if any(name in g.jobs for g in groups):
        raise ErrandError(f"Job '{name}' has no {ERRAND_SCRIPT}, so it is not an errand "
                          f"(errands of deployment '{deployment}': {known})")
    raise ErrandError(f"Errand '{name}' doesn't exist in deployment '{deployment}' (errands: {known})")


def parse_selector(selector: str) -> tuple[str, str | None]:
    """``GROUP`` or ``GROUP/ID-or-INDEX``, checked for shape."""
    group, slash, which = str(selector).partition("/")
    if not group or (slash and not which) or "/" in which:
        raise ErrandError(f"--instance '{selector}': expected GROUP or GROUP/ID or GROUP/INDEX")
    return group, which or None


def select(target_instances: dict[str, list[InstanceRef]], selectors: list[str], errand: str) -> list[InstanceRef]:
    """The instances to run on: all of the targets' instances, or those the selectors name.
    A selector matching none of them is an error (never a silent no-op)."""
    every = [ref for refs in target_instances.values() for ref in refs]
    if not selectors:
        return every
    chosen: list[InstanceRef] = []
    for selector in selectors:
        group, which = parse_selector(selector)
        matched = [ref for ref in target_instances.get(group, [])
                   if which is None or which in (ref.uuid, str(ref.index))]
        if not matched:
            have = ", ".join(f"{r.group}/{r.index}" for r in every) or "none"
            raise ErrandError(f"--instance '{selector}': no instance of errand '{errand}' matches "
                              f"(instances that have it: {have})")
        chosen.extend(ref for ref in matched if ref not in chosen)
    return chosen
