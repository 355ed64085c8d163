"""Apply the spec: upload the rendered templates, have the agent fetch them (``prepare``,
while the old jobs still run, as BOSH's PrepareInstanceStep), apply them, record the
applied spec (keeping the VM's recorded facts) and drop the previous archive."""

from __future__ import annotations

import asyncio

from bosh_py.director.changes import VM_SPEC_KEY
from bosh_py.director.models import Instance
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.rows import save


async def upload_archive(director: Director, change: InstanceChange) -> dict:
    """The spec to apply, naming its rendered templates archive, now in the blobstore."""
    blob_id, digest = await asyncio.to_thread(director.blobstore.put_bytes, change.rendered_archive)
    return {**change.apply_spec, "rendered_templates_archive": {"blobstore_id": blob_id, "sha1": digest}}


def archive_id(spec: dict) -> str:
    return str(spec["rendered_templates_archive"]["blobstore_id"])


async def prepare_spec(director: Director, agent_id: str, spec: dict) -> None:
    """The agent downloads and unpacks what ``spec`` names without touching what runs, so
    the jobs' downtime (stop → apply → start) holds no download."""
    await director.agent(agent_id).prepare(spec)


async def apply_uploaded(director: Director, row: Instance, spec: dict, old_archive: str | None) -> None:
    """Apply ``spec`` (from upload_archive) and record it. The caller deletes the uploaded
    archive if this fails: until it is recorded, nothing else names it."""
    await director.agent(row.agent_id).apply(spec)
    recorded = (row.applied_spec or {}).get(VM_SPEC_KEY)
    save(director, row.id, applied_spec={**spec, **({VM_SPEC_KEY: recorded} if recorded else {})})
    if old_archive and old_archive != archive_id(spec):
        director.blobstore.delete(old_archive)


async def apply_spec(director: Director, change: InstanceChange, row: Instance, old_archive: str | None) -> None:
    """Upload and apply in one go (a VM that runs nothing yet has nothing to prepare)."""
    spec = await upload_archive(director, change)
    try:
        await apply_uploaded(director, row, spec, old_archive)
    except BaseException:
        director.blobstore.delete(archive_id(spec))  # recorded nowhere yet
        raise
