"""Apply the spec: upload the rendered templates, have the agent apply them, record the
applied spec (keeping the VM's recorded facts) and drop the previous archive."""

from __future__ import annotations

import asyncio

from bosh_py.director.changes import VM_SPEC_KEY
from bosh_py.director.models import Instance
from bosh_py.director.services import Director
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.rows import save


async def apply_spec(director: Director, change: InstanceChange, row: Instance, old_archive: str | None) -> None:
    blob_id, digest = await asyncio.to_thread(director.blobstore.put_bytes, change.rendered_archive)
    spec = {**change.apply_spec, "rendered_templates_archive": {"blobstore_id": blob_id, "sha1": digest}}
    try:
        await director.agent(row.agent_id).apply(spec)
    except BaseException:
        director.blobstore.delete(blob_id)  # recorded nowhere yet
        raise
    recorded = (row.applied_spec or {}).get(VM_SPEC_KEY)
    save(director, row.id, applied_spec={**spec, **({VM_SPEC_KEY: recorded} if recorded else {})})
    if old_archive and old_archive != blob_id:
        director.blobstore.delete(old_archive)
