"""Prepare the next batch while this one is watched: upload each instance's rendered
templates and have its agent fetch them (``prepare``: nothing that runs is touched), so when
its turn comes, stop → apply → start holds no upload or download. A watch is mostly the
director waiting, so the fetch costs the rollout no time. A failure here is only logged:
the instance's own turn uploads and prepares again and reports what fails then."""

from __future__ import annotations

from collections.abc import Callable

from bosh_py.director.services import Director
from bosh_py.director.steps.apply import archive_id, prepare_spec, upload_archive
from bosh_py.director.steps.change import InstanceChange
from bosh_py.director.steps.rows import load
from bosh_py.errors import BoshPyError


def keeps_vm(change: InstanceChange, vm_cid: str | None, agent_id: str | None) -> bool:
    """The instance's update keeps its running VM, whose agent can fetch ahead."""
    return bool(vm_cid and agent_id and change.new_vm is None and not change.needs_vm)


async def prepare_ahead(director: Director, change: InstanceChange, debug: Callable[[str], None]) -> None:
    row = load(director, change.instance_id)
    if change.prepared_spec is not None or not keeps_vm(change, row.vm_cid, row.agent_id):
        return
    name = f"{change.group.name}/{change.plan.index}"
    try:
        spec = await upload_archive(director, change)
    except (BoshPyError, OSError) as error:
        debug(f"Preparing {name} ahead failed ({error}); its turn will retry")
        return
    try:
        await prepare_spec(director, str(row.agent_id), spec)
    except BoshPyError as error:
        director.blobstore.delete(archive_id(spec))
        debug(f"Preparing {name} ahead failed ({error}); its turn will retry")
        return
    except BaseException:
        director.blobstore.delete(archive_id(spec))
        raise
    change.prepared_spec = spec
    debug(f"Prepared {name} ahead of its turn")


def discard_prepared(director: Director, changes: list[InstanceChange]) -> None:
    """Delete the archives of instances prepared ahead whose turn never came (a failed
    rollout stops before them): nothing records them."""
    for change in changes:
        if change.prepared_spec is not None:
            director.blobstore.delete(archive_id(change.prepared_spec))
            change.prepared_spec = None
