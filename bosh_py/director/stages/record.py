"""Stage "record": the manifest and the configs it was deployed with, and the event."""

from __future__ import annotations

from sqlalchemy import select

from bosh_py.director.models import Deployment, Event
from bosh_py.director.stages.context import DeployRun


async def run(r: DeployRun) -> None:
    with r.director.sessions.begin() as session:
        deployment = session.scalars(select(Deployment).where(Deployment.name == r.name)).first()
        deployment.manifest_text = r.source.manifest_text
        deployment.cloud_config_id = r.source.cloud_config_id
        deployment.runtime_config_ids = list(r.source.runtime_config_ids)
        session.add(Event(action="update" if r.previous else "create", object_type="deployment",
                          object_name=r.name, task_id=r.ctx.id, deployment_name=r.name))
    r.result = f"/deployments/{r.name}"
