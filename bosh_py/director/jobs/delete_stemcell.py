"""`bosh-py delete-stemcell NAME/VERSION`: delete every copy of a stemcell, each through the
CPI that holds it, unless a deployment still uses it.

Each copy's row goes as soon as its CPI deleted it, so a failure half-way leaves exactly the
copies that still exist recorded, and running the command again finishes the job.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director.models import Deployment, Event, Stemcell
from bosh_py.director.planner import PlanError, resolve_stemcell
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError
from bosh_py.manifest import load_yaml


def deployments_using(session: Session, name: str, version: str) -> list[str]:
    """Deployments whose stored manifest resolves one of its stemcell aliases to a copy of
    this one (an alias naming an `os` may take a copy of it in one CPI among others)."""
    ours = {(cpi, cid) for _, cpi, cid in copies_of(session, name, version)}
    users = []
    for deployment in session.scalars(select(Deployment).order_by(Deployment.name)):
        manifest = load_yaml(deployment.manifest_text, "manifest") if deployment.manifest_text else {}
        for entry in manifest.get("stemcells") or []:
            try:
                chosen = resolve_stemcell(session, manifest, entry.get("alias", ""), "stemcells")
            except PlanError:
                continue
            if ours & set(chosen.cids):
                users.append(deployment.name)
                break
    return users


def copies_of(session: Session, name: str, version: str) -> list[tuple[int, str, str]]:
    rows = session.scalars(select(Stemcell).where(Stemcell.name == name, Stemcell.version == version))
    return [(row.id, row.cpi, row.cid) for row in rows]


def check_deletable(director: Director, name: str, version: str) -> None:
    """Before a task is queued: the stemcell exists and no deployment uses it."""
    with director.sessions() as session:
        if not copies_of(session, name, version):
            raise BoshPyError(f"Stemcell '{name}/{version}' not found (`bosh-py stemcells` lists them)")
        users = deployments_using(session, name, version)
    if users:
        raise BoshPyError(f"Stemcell '{name}/{version}' is used by deployment(s) {', '.join(users)}")


async def run(director: Director, ctx: TaskContext, name: str, version: str) -> str:
    check_deletable(director, name, version)
    with director.sessions() as session:
        copies = copies_of(session, name, version)
    stage = ctx.log.stage("Deleting stemcell", len(copies))
    for row_id, cpi, cid in copies:
        with stage.task(f"{name}/{version} ({cid}) in CPI '{cpi}'"):
            await director.cpi(ctx.log.debug, cpi).call("delete_stemcell", cid)  # a CPI that lost it says so
            with director.sessions.begin() as session:
                row = session.get(Stemcell, row_id)
                if row is not None:
                    session.delete(row)
                session.add(Event(action="delete", object_type="stemcell", object_name=f"{name}/{version}",
                                  task_id=ctx.id, context={"cpi": cpi, "cid": cid}))
    return f"Deleted stemcell {name}/{version}"
