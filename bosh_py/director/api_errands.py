"""Errand routes of the director API (BOSH's paths where it has them):

- ``GET /deployments/{name}/errands``: the errands of the deployed manifest;
- ``POST /deployments/{name}/errands/{errand}/runs``: a run-errand task
  (``{"instances": [...], "keep_alive": bool, "download_logs": bool, "timeout": seconds}``);
- ``GET|DELETE /errand_logs/{blob_id}``: a logs tarball a finished run-errand task fetched,
  downloaded then deleted by the CLI (no other blob is reachable here); one nobody fetches
  is deleted after ``LOGS_RETENTION`` seconds, as `bosh-py logs` blobs are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

from aiohttp import web
from sqlalchemy import select

from bosh_py.director import errands, release_store
from bosh_py.director.api_common import task_json
from bosh_py.director.api_errors import ApiError, NotFound, bool_field, json_object
from bosh_py.director.deployment_views import find_deployment
from bosh_py.director.jobs.deployment_actions import delete_logs_blob, prepare_deployed
from bosh_py.director.jobs.run_errand import DESCRIPTION, ErrandRequest
from bosh_py.director.models import Task
from bosh_py.director.planner import plan_deployment
from bosh_py.director.services import Director

MAX_SELECTORS = 100
MAX_TIMEOUT = 7 * 24 * 3600


def errand_request(errand: str, body: dict) -> ErrandRequest:
    """The run-errand body, checked: each bad field named."""
    instances = body.get("instances") or []
    if not isinstance(instances, list) or len(instances) > MAX_SELECTORS or \
            not all(isinstance(i, str) and 0 < len(i) <= 200 for i in instances):
        raise ApiError(f"instances: expected a list of at most {MAX_SELECTORS} GROUP or GROUP/ID-or-INDEX strings")
    for selector in instances:
        errands.parse_selector(selector)
    timeout = body.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= MAX_TIMEOUT):
        raise ApiError(f"timeout: expected seconds between 1 and {MAX_TIMEOUT}")
    if not errand or len(errand) > 200:
        raise ApiError("errand: expected a name")
    return ErrandRequest(errand, tuple(instances), bool_field(body, "keep_alive"), bool_field(body, "download_logs"),
                         float(timeout) if timeout is not None else None)


async def list_errands(director: Director, name: str) -> list[dict]:
    source = prepare_deployed(director, name)
    with director.sessions() as session:
        plan = plan_deployment(session, source.manifest, source.cloud_config, [], set())
    archives = await release_store.job_archives(director, plan)
    groups = errands.group_jobs(source.manifest, lambda release, job: errands.is_errand_job(
        archives[(release, job)].spec.templates))
    return [{"name": n} for n in errands.errand_names(groups)]


def errand_logs_blob(director: Director, blob_id: str) -> bool:
    """True only for a logs blob named in the result of a finished run-errand task."""
    if not blob_id or len(blob_id) > 64:
        return False
    with director.sessions() as session:
        results = session.scalars(select(Task.result).where(
            Task.description.startswith(DESCRIPTION), Task.state == "done", Task.result.contains(blob_id)))
        for result in results:
            try:
                runs = json.loads(result or "{}").get("runs") or []
            except ValueError:
                continue
            if any(run.get("logs_blob_id") == blob_id for run in runs):
                return True
    return False


def errand_routes(director: Director) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/deployments/{name}/errands")
    async def get_errands(request: web.Request) -> web.Response:
        return web.json_response(await list_errands(director, request.match_info["name"]))

    @routes.post("/deployments/{name}/errands/{errand}/runs")
    async def post_run(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        with director.sessions() as session:
            find_deployment(session, name)
        errand_request_ = errand_request(request.match_info["errand"], await json_object(request))
        task_id = director.tasks.submit(f"{DESCRIPTION} {errand_request_.name}", name, "run_errand",
                                        {"deployment": name, "request": dataclasses.asdict(errand_request_)})
        return web.json_response(task_json(director.tasks.get(task_id)), status=202)

    @routes.get("/errand_logs/{blob_id}")
    async def get_logs(request: web.Request) -> web.StreamResponse:
        blob_id = request.match_info["blob_id"]
        if not await asyncio.to_thread(errand_logs_blob, director, blob_id):
            raise NotFound(f"No errand logs with blob id '{blob_id[:40]}'")
        return web.FileResponse(await asyncio.to_thread(director.blobstore.get_path, blob_id))

    @routes.delete("/errand_logs/{blob_id}")
    async def delete_logs(request: web.Request) -> web.Response:
        blob_id = request.match_info["blob_id"]
        if not await asyncio.to_thread(errand_logs_blob, director, blob_id):
            raise NotFound(f"No errand logs with blob id '{blob_id[:40]}'")
        await asyncio.to_thread(delete_logs_blob, director, blob_id)
        return web.json_response({"deleted": blob_id})

    return routes
