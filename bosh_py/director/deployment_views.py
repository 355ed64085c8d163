"""Read-only views of deployments for the API: lists, instance states, manifest diffs."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director.manifest_input import with_runtime_configs
from bosh_py.director.models import Deployment, Instance, OrphanDisk
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.manifest import diff, load_yaml


def find_deployment(session: Session, name: str) -> Deployment:
    row = session.scalars(select(Deployment).where(Deployment.name == name)).first()
    if row is None:
        raise BoshPyError(f"Deployment '{name}' doesn't exist")
    return row


def _manifest(row: Deployment) -> dict:
    return load_yaml(row.manifest_text, "manifest") if row.manifest_text else {}


def list_deployments(session: Session) -> list[dict]:
    result = []
    for row in session.scalars(select(Deployment).order_by(Deployment.name)):
        manifest = _manifest(row)
        result.append({
            "name": row.name,
            "releases": [f"{r['name']}/{r.get('version', 'latest')}" for r in manifest.get("releases") or []],
            "stemcells": [f"{s.get('os') or s.get('name')}/{s.get('version', 'latest')}"
                          for s in manifest.get("stemcells") or []],
            "instances": len(row.instances),
        })
    return result


def manifest_diff(director: Director, source, redact_properties: bool = True) -> list[str]:  # type: ignore[no-untyped-def]
    """The diff against the last deployed manifest; stored secrets are always redacted and
    property values too unless the operator asks (`--no-redact`), as the BOSH director does."""
    with director.sessions() as session:
        row = session.scalars(select(Deployment).where(Deployment.name == source.manifest["name"])).first()
        old_raw, old_ids = (_manifest(row), list(row.runtime_config_ids or [])) if row else ({}, [])
    # both sides with their runtime-configs, so a changed addon shows like a changed job
    old = with_runtime_configs(director, old_raw, old_ids)[0] if old_raw else {}
    new, _ = with_runtime_configs(director, load_yaml(source.manifest_text, "manifest"), source.runtime_config_ids)
    return diff(old, new, secret_values=source.secret_values, redact_properties=redact_properties)


async def _state_of(director: Director, agent_id: str | None) -> dict:
    if not agent_id:
        return {"job_state": "no vm"}
    try:
        return await asyncio.wait_for(director.agent(agent_id).call("get_state"), timeout=3)
    except (BoshPyError, asyncio.TimeoutError) as error:
        return {"job_state": "unresponsive agent", "error": str(error)}


async def instances_with_state(director: Director, name: str) -> list[dict]:
    with director.sessions() as session:
        deployment = find_deployment(session, name)
        rows = sorted(deployment.instances, key=lambda i: (i.group, i.index))
        disks = {row.id: [d.cid for d in row.disks if d.active] for row in rows}
        for row in rows:
            session.expunge(row)
    states = await asyncio.gather(*(_state_of(director, row.agent_id) for row in rows))
    result = []
    for row, state in zip(rows, states):
        result.append({
            "instance": f"{row.group}/{row.uuid}", "group": row.group, "id": row.uuid, "index": row.index,
            "az": row.az, "ips": [row.ip] if row.ip else [], "vm_cid": row.vm_cid, "agent_id": row.agent_id,
            "cpi": row.cpi if row.vm_cid else None,
            "bootstrap": row.bootstrap, "expected_state": row.state, "disk_cids": disks[row.id],
            "host_public_key": row.host_public_key,
            "process_state": state.get("job_state"), "processes": state.get("processes") or [],
            "vitals": state.get("vitals") or {},
        })
    return result


def orphaned_disks(session: Session) -> list[dict]:
    """`bosh-py disks --orphaned`: disks kept after their instance or disk went away."""
    return [{"disk_cid": d.cid, "cpi": d.cpi, "size": d.size, "deployment": d.deployment_name, "instance": d.instance_name,
             "az": d.az, "orphaned_at": int(d.orphaned_at.timestamp())}
            for d in session.scalars(select(OrphanDisk).order_by(OrphanDisk.orphaned_at.desc(), OrphanDisk.id))]


def select_instances(rows: list[Instance], selector: str | None) -> list[Instance]:
    """`group`, `group/uuid`, `group/index` or nothing (all), as the BOSH CLI accepts."""
    if not selector:
        return rows
    group, _, which = selector.partition("/")
    chosen = [r for r in rows if r.group == group and (not which or which in (r.uuid, str(r.index)))]
    if not chosen:
        raise BoshPyError(f"No instance matches '{selector}'")
    return chosen
