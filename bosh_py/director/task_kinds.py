"""Every kind of task, as a name and a function of its JSON parameters.

The API checks a request and queues (kind, params); whichever director process claims the
row (tasks.py) rebuilds what the task needs from them here. Parameters are plain JSON, so a
worker on another machine can run any task; an uploaded tarball travels as a blob
(``stage_upload``), since the API's temporary files are only on its machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from bosh_py.director import cli_variables, orphan_disks
from bosh_py.director.blobstore import new_blob_id
from bosh_py.director.cck.job import cloud_check
from bosh_py.director.jobs import (attach_disk, clean_up, delete_release, delete_stemcell, deployment_actions,
                                   export_release, upload_release, upload_stemcell)
from bosh_py.director.jobs.deploy import DeployOptions, deploy
from bosh_py.director.jobs.instance_action_options import InstanceActionOptions
from bosh_py.director.jobs.run_errand import ErrandRequest, run_errand
from bosh_py.director.manifest_input import prepare_deployment
from bosh_py.director.services import Director
from bosh_py.director.tasks import ClaimedTask, TaskBody, TaskContext

Handler = Callable[[Director, TaskContext, dict[str, Any]], Awaitable[str | None]]
KINDS: dict[str, Handler] = {}

UPLOAD = "blobstore_id"  # the parameter naming a staged upload (clean_up keeps what tasks name)


def kind(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        KINDS[name] = handler
        return handler
    return register


def body_for(director: Director, task: ClaimedTask) -> TaskBody:
    handler = KINDS.get(task.kind)
    if handler is None:
        raise ValueError(f"unknown task kind '{task.kind[:64]}' (a director of another version queued it?)")
    return lambda ctx: handler(director, ctx, task.params)


def options_json(options: Any) -> dict[str, Any]:
    """A flags dataclass as task parameters (sets as sorted lists)."""
    return {key: sorted(value) if isinstance(value, (set, frozenset)) else value
            for key, value in dataclasses.asdict(options).items()}


async def stage_upload(director: Director, chunks: AsyncIterator[bytes]) -> str:
    """Write an upload's body into the blobstore, where every director process can read it;
    returns its blob id. A body that breaks off leaves nothing."""
    blob_id = new_blob_id()
    writer = director.blobstore.writer(blob_id)
    try:
        async for chunk in chunks:
            writer.write(chunk)
        await asyncio.to_thread(writer.commit)
    except BaseException:
        writer.abort()
        raise
    return blob_id


async def _unstaged(director: Director, blob_id: str) -> Path:
    """The staged upload as a file of this process's own, and the blob gone (the task deletes
    the file when it ends)."""
    handle = tempfile.NamedTemporaryFile(dir=director.config.data_dir / "tmp", delete=False)
    handle.close()
    path = Path(handle.name)
    try:
        await asyncio.to_thread(director.blobstore.copy_to, blob_id, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    await asyncio.to_thread(director.blobstore.delete, blob_id)
    return path


# --- stemcells and releases -----------------------------------------------------------------

@kind("upload_stemcell")
async def _upload_stemcell(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await upload_stemcell.run(director, ctx, await _unstaged(director, params[UPLOAD]))


@kind("delete_stemcell")
async def _delete_stemcell(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await delete_stemcell.run(director, ctx, params["name"], params["version"])


def _upload_options(params: dict[str, Any]) -> upload_release.UploadOptions:
    return upload_release.UploadOptions(**params["options"])


@kind("upload_release")
async def _upload_release(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await upload_release.run(director, ctx, await _unstaged(director, params[UPLOAD]),
                                    _upload_options(params))


@kind("upload_release_url")
async def _upload_release_url(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await upload_release.run_from_url(director, ctx, params["url"], _upload_options(params))


@kind("delete_release")
async def _delete_release(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await delete_release.run(director, ctx, params["name"], params["version"], params["force"])


@kind("export_release")
async def _export_release(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await export_release.run(director, ctx, params["deployment"], params["name"], params["version"],
                                    params["os"], params["os_version"])


@kind("clean_up")
async def _clean_up(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await clean_up.run(director, ctx, params["all"])


# --- deployments ----------------------------------------------------------------------------

@kind("deploy")
async def _deploy(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    source = await asyncio.to_thread(prepare_deployment, director, params["manifest"], generate=True,
                                     cloud_config_id=params["cloud_config_id"],
                                     runtime_config_ids=params["runtime_config_ids"])
    source.secret_values = cli_variables.with_cli_secrets(source.secret_values, params.get("cli_variables") or {})
    return await deploy(director, ctx, source, DeployOptions(**params["options"]))


@kind("recreate")
async def _recreate(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    """`bosh-py recreate` and the resurrector's scan and fix."""
    return await deployment_actions.recreate(director, ctx, params["deployment"], set(params["instance_ids"]),
                                             InstanceActionOptions(**params["options"]))


@kind("delete_deployment")
async def _delete_deployment(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await deployment_actions.delete_deployment(director, ctx, params["deployment"], params["force"])


@kind("change_state")
async def _change_state(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await deployment_actions.change_state(director, ctx, params["deployment"], params["action"],
                                                 params["selector"], InstanceActionOptions(**params["options"]))


@kind("fetch_logs")
async def _fetch_logs(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await deployment_actions.fetch_logs(director, ctx, params["deployment"], params["selector"])


@kind("run_errand")
async def _run_errand(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    request = dict(params["request"], instances=tuple(params["request"]["instances"]))
    result = await run_errand(director, ctx, params["deployment"], ErrandRequest(**request))
    loop = asyncio.get_running_loop()
    for run in json.loads(result)["runs"]:
        if run.get("logs_blob_id"):  # the operator downloads them soon or never (clean_up catches the rest)
            loop.call_later(deployment_actions.LOGS_RETENTION, deployment_actions.delete_logs_blob, director, run["logs_blob_id"])
    return result


@kind("cloud_check")
async def _cloud_check(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await cloud_check(director, ctx, params["deployment"], params["chosen"], params["auto"],
                             params["resolving"], params["user"])


# --- disks ----------------------------------------------------------------------------------

@kind("attach_disk")
async def _attach_disk(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await attach_disk.attach_disk(director, ctx, params["deployment"], params["instance"], params["cid"])


@kind("delete_orphaned_disk")
async def _delete_orphaned_disk(director: Director, ctx: TaskContext, params: dict[str, Any]) -> str | None:
    return await orphan_disks.delete_orphan_task(director, ctx, params["cid"])
