"""Stage "render": every instance's job templates, with links resolved (nothing is uploaded)."""

from __future__ import annotations

from bosh_py.director import release_store
from bosh_py.director.links import resolve_links
from bosh_py.director.planner import GroupPlan, InstancePlan
from bosh_py.director.stages.context import DeployRun


def instance_spec(deployment: str, group: GroupPlan, instance: InstancePlan) -> dict:
    """What templates see as ``spec``."""
    return {"name": group.name, "id": instance.uuid, "index": instance.index, "az": instance.az,
            "deployment": deployment, "bootstrap": instance.bootstrap, "address": instance.ip,
            "ip": instance.ip, "networks": instance.networks, "job": {"name": group.name},
            "persistent_disk": group.persistent_disk}


async def run(r: DeployRun) -> None:
    assert r.plan is not None
    to_render = []
    for group in r.plan.groups:
        links = {job.name: resolve_links(group.name, job, r.archives[(job.release, job.name)], r.providers,
                                         f"instance_groups/{group.name}/jobs/{position}")
                 for position, job in enumerate(group.jobs)}
        to_render += [(group, instance_spec(r.name, group, instance), links) for instance in group.instances]
    r.rendered = await release_store.render_instances(
        r.archives, to_render, {release: version.version for release, version in r.plan.releases.items()},
        r.director.renderers)
