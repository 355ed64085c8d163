"""The director's view of uploaded releases for a deploy: job archives from the blobstore,
property validation against job specs, and rendering an instance's templates."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bosh_py.director.models import ReleaseVersion, Template
from bosh_py.director.planner import DeploymentPlan, GroupPlan, PlanError
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.release.errors import RenderError
from bosh_py.release.isolated_render import RenderProcesses, render_isolated
from bosh_py.release.properties import validate_job_properties
from bosh_py.release.render import JobForRender, RenderedInstance
from bosh_py.release.render_worker import RenderRequest
from bosh_py.release.tarball import JobArchive, read_job_archive

JobKey = tuple[str, str]  # (release name, job name)


def job_fingerprint(version: ReleaseVersion, job: str) -> str:
    entry = next((j for j in version.manifest.get("jobs", []) if j["name"] == job), None)
    if entry is None:
        raise BoshPyError(f"Release '{version.release.name}/{version.version}' has no job '{job}'")
    return entry["fingerprint"]


async def job_archives(director: Director, plan: DeploymentPlan) -> dict[JobKey, JobArchive]:
    """Every job the deployment uses, read once from the blobstore."""
    archives: dict[JobKey, JobArchive] = {}
    for group in plan.groups:
        for job in group.jobs:
            key = (job.release, job.name)
            if key in archives:
                continue
            fingerprint = job_fingerprint(plan.releases[job.release], job.name)
            with director.sessions() as session:
                row = session.scalars(select(Template).where(
                    Template.release_name == job.release, Template.name == job.name,
                    Template.fingerprint == fingerprint)).first()
            if row is None:
                raise BoshPyError(f"Job '{job.name}' of release '{job.release}' is missing its blob")
            blob = await asyncio.to_thread(director.blobstore.get_path, row.blobstore_id)  # S3: may download
            archives[key] = await asyncio.to_thread(read_job_archive, blob)
    return archives


def validate_properties(plan: DeploymentPlan, archives: dict[JobKey, JobArchive]) -> None:
    errors: list[str] = []
    for group in plan.groups:
        for position, job in enumerate(group.jobs):
            errors += validate_job_properties(archives[(job.release, job.name)].spec, job.properties,
                                              f"instance_groups/{group.name}/jobs/{position}/properties")
    if errors:
        raise PlanError("\n".join(errors))


InstanceToRender = tuple[GroupPlan, dict, dict[str, dict]]  # (group, apply spec, consumed links)


async def render_instances(archives: dict[JobKey, JobArchive], wanted: list[InstanceToRender],
                           release_versions: dict[str, str] | None = None,
                           processes: RenderProcesses | None = None) -> dict[tuple[str, int], RenderedInstance]:
    """Render (group, instance spec, links) for every instance of a deploy in one worker
    process, off the event loop and bounded in time and memory (``isolated_render``);
    the first failure becomes a PlanError naming the instance, job and template."""
    versions = release_versions or {}  # release name -> version, for spec.release
    jobs_by_group = {group.name: [JobForRender.from_archive(archives[(job.release, job.name)], job.properties,
                                                            {"name": job.release, "version": versions.get(job.release)})
                                  for job in group.jobs] for group, _, _ in wanted}
    requests = [RenderRequest(jobs_by_group[group.name], spec, links) for group, spec, links in wanted]
    results = await render_isolated(requests, processes=processes)
    rendered: dict[tuple[str, int], RenderedInstance] = {}
    for (group, spec, _), result in zip(wanted, results):
        if isinstance(result, RenderError):
            raise PlanError(f"instance_groups/{group.name}/{spec['index']}: {result}") from result
        rendered[(group.name, spec["index"])] = result
    return rendered
