"""The director's HTTP/JSON API for the CLI. Every change is a task; reads are direct.

Paths follow the BOSH director's where one exists (/info, /deployments, /releases,
/stemcells, /tasks, /locks, /events, /configs). Secrets never leave through here except
the credentials an operator asks for by name (none yet).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bosh_py.director import deployment_views
from bosh_py.director.auth import basic_auth_middleware
from bosh_py.director.event_log import read_from
from bosh_py.director.jobs import deployment_actions, upload_release, upload_stemcell
from bosh_py.director.jobs.deploy import DeployOptions, deploy
from bosh_py.director.manifest_input import prepare_cloud_config, prepare_deployment, stored_variables
from bosh_py.director.models import CloudConfig, Event, Release, Stemcell, Task
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError

VERSION = "0.1.0"


def task_json(task: Task) -> dict:
    return {"id": task.id, "state": task.state, "description": task.description,
            "deployment": task.deployment_name, "result": task.result,
            "started_at": int(task.started_at.timestamp()) if task.started_at else None,
            "ended_at": int(task.ended_at.timestamp()) if task.ended_at else None}


@web.middleware
async def errors_as_json(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every failure the request itself caused becomes a JSON error the CLI can print."""
    try:
        return await handler(request)
    except BoshPyError as error:
        return web.json_response({"code": 400, "description": str(error)}, status=400)
    except (KeyError, ValueError) as error:  # a missing field, a malformed body or number
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        return web.json_response({"code": 400, "description": f"Bad request: {detail}"}, status=400)
    except IntegrityError:
        return web.json_response({"code": 409, "description": "Conflict: a concurrent request changed the "
                                  "same thing; try again"}, status=409)


def build_app(director: Director) -> web.Application:
    app = web.Application(middlewares=[
        basic_auth_middleware("admin", director.secrets.admin_password, frozenset({"/info"})),
        errors_as_json,
    ], client_max_size=0)
    routes = web.RouteTableDef()

    def task_response(task_id: int) -> web.Response:
        return web.json_response(task_json(director.tasks.get(task_id)), status=202)

    async def body_file(request: web.Request) -> Path:
        handle = tempfile.NamedTemporaryFile(dir=director.config.data_dir / "tmp", delete=False)
        with handle:
            async for chunk in request.content.iter_chunked(1 << 20):
                handle.write(chunk)
        return Path(handle.name)

    @routes.get("/info")
    async def info(_request: web.Request) -> web.Response:
        return web.json_response({"name": director.config.name, "uuid": director.uuid, "version": VERSION,
                                  "cpi": director.config.cpi.executable, "user": None})

    # --- cloud config -------------------------------------------------------------------
    @routes.get("/configs")
    async def get_configs(request: web.Request) -> web.Response:
        with director.sessions() as session:
            latest = session.scalars(select(CloudConfig).order_by(CloudConfig.id.desc())).first()
        if latest is None:
            return web.json_response([])
        return web.json_response([{"id": latest.id, "type": "cloud", "name": "default", "content": latest.content}])

    @routes.post("/configs")
    async def post_config(request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("content", "")
        prepare_cloud_config(text)
        with director.sessions.begin() as session:
            latest = session.scalars(select(CloudConfig).order_by(CloudConfig.id.desc())).first()
            if latest is not None and latest.content == text:
                return web.json_response({"id": latest.id, "changed": False})
            row = CloudConfig(content=text)
            session.add(row)
            session.flush()
            session.add(Event(action="update", object_type="cloud-config", object_name="default"))
            return web.json_response({"id": row.id, "changed": True}, status=201)

    # --- releases and stemcells ---------------------------------------------------------
    @routes.get("/releases")
    async def releases(_request: web.Request) -> web.Response:
        with director.sessions() as session:
            in_use = deployment_views.release_versions_in_use(session)
            rows = [{"name": r.name, "version": v.version, "commit_hash": v.manifest.get("commit_hash"),
                     "in_use": (r.name, v.version) in in_use}
                    for r in session.scalars(select(Release).order_by(Release.name)) for v in r.versions]
        return web.json_response(rows)

    @routes.post("/releases")
    async def post_release(request: web.Request) -> web.Response:
        path = await body_file(request)
        task_id = director.tasks.submit("create release", None,
                                        lambda ctx: upload_release.run(director, ctx, path))
        return task_response(task_id)

    @routes.get("/stemcells")
    async def stemcells(_request: web.Request) -> web.Response:
        with director.sessions() as session:
            rows = [{"name": s.name, "version": s.version, "os": s.operating_system, "cid": s.cid}
                    for s in session.scalars(select(Stemcell).order_by(Stemcell.name, Stemcell.id))]
        return web.json_response(rows)

    @routes.post("/stemcells")
    async def post_stemcell(request: web.Request) -> web.Response:
        path = await body_file(request)
        task_id = director.tasks.submit("create stemcell", None,
                                        lambda ctx: upload_stemcell.run(director, ctx, path))
        return task_response(task_id)

    # --- deployments --------------------------------------------------------------------
    @routes.get("/deployments")
    async def deployments(_request: web.Request) -> web.Response:
        with director.sessions() as session:
            return web.json_response(deployment_views.list_deployments(session))

    @routes.post("/deployments/diff")
    async def diff(request: web.Request) -> web.Response:
        body = await request.json()
        source = prepare_deployment(director, body["manifest"], generate=False)
        redact = body.get("redact", True) is not False
        return web.json_response({"diff": deployment_views.manifest_diff(director, source, redact)})

    @routes.post("/deployments")
    async def post_deployment(request: web.Request) -> web.Response:
        body = await request.json()
        source = prepare_deployment(director, body["manifest"], generate=True)
        options = DeployOptions(recreate=bool(body.get("recreate")), dry_run=bool(body.get("dry_run")))
        name = source.manifest["name"]
        task_id = director.tasks.submit(f"create deployment{' (dry run)' if options.dry_run else ''}", name,
                                        lambda ctx: deploy(director, ctx, source, options))
        return task_response(task_id)

    @routes.get("/deployments/{name}")
    async def get_deployment(request: web.Request) -> web.Response:
        with director.sessions() as session:
            row = deployment_views.find_deployment(session, request.match_info["name"])
            return web.json_response({"name": row.name, "manifest": row.manifest_text})

    @routes.delete("/deployments/{name}")
    async def delete_deployment(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        force = request.query.get("force") == "true"
        with director.sessions() as session:
            deployment_views.find_deployment(session, name)
        task_id = director.tasks.submit("delete deployment", name,
                                        lambda ctx: deployment_actions.delete_deployment(director, ctx, name, force))
        return task_response(task_id)

    @routes.get("/deployments/{name}/instances")
    async def instances(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        rows = await deployment_views.instances_with_state(director, name)
        return web.json_response(rows)

    @routes.post("/deployments/{name}/instances/action")
    async def instance_action(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        action, selector = body["action"], body.get("instance")
        with director.sessions() as session:
            deployment_views.find_deployment(session, name)
        if action == "recreate":
            body_fn = deployment_actions.recreate_task(director, name, selector)
        else:
            body_fn = lambda ctx: deployment_actions.change_state(director, ctx, name, action, selector)  # noqa: E731
        task_id = director.tasks.submit(f"{action} instances", name, body_fn)
        return task_response(task_id)

    @routes.post("/deployments/{name}/logs")
    async def logs(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        task_id = director.tasks.submit("fetch logs", name, lambda ctx: deployment_actions.fetch_logs(
            director, ctx, name, body.get("instance")))
        return task_response(task_id)

    @routes.post("/deployments/{name}/ssh")
    async def ssh(request: web.Request) -> web.Response:
        body = await request.json()
        target = await deployment_actions.ssh_access(director, request.match_info["name"], body["instance"],
                                                     body["public_key"], body.get("action", "setup"))
        return web.json_response(target)

    @routes.get("/deployments/{name}/variables")
    async def variables(request: web.Request) -> web.Response:
        names = sorted(stored_variables(director, request.match_info["name"]))
        return web.json_response([{"name": n} for n in names])

    @routes.get("/deployments/{name}/variables/{variable}")
    async def variable(request: web.Request) -> web.Response:
        """One variable's value: secrets leave the director only when asked for by name."""
        values = stored_variables(director, request.match_info["name"])
        if request.match_info["variable"] not in values:
            raise BoshPyError(f"Variable '{request.match_info['variable']}' not found")
        return web.json_response({"name": request.match_info["variable"],
                                  "value": values[request.match_info["variable"]]})

    @routes.get("/resources/{blob_id}")
    async def resource(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(director.blobstore.get_path(request.match_info["blob_id"]))

    # --- tasks, locks, events -----------------------------------------------------------
    @routes.get("/tasks")
    async def tasks(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "30"))
        recent = request.query.get("state") != "processing"
        rows = director.tasks.list(request.query.get("deployment"), limit, recent)
        return web.json_response([task_json(t) for t in rows])

    @routes.get("/tasks/{task_id}")
    async def task(request: web.Request) -> web.Response:
        row = director.tasks.get(int(request.match_info["task_id"]))
        if row is None:
            raise BoshPyError(f"Task {request.match_info['task_id']} not found")
        return web.json_response(task_json(row))

    @routes.get("/tasks/{task_id}/output")
    async def task_output(request: web.Request) -> web.Response:
        task_id = int(request.match_info["task_id"])
        kind = request.query.get("type", "event")
        if kind not in ("event", "debug", "result"):
            raise BoshPyError(f"Unknown task output type '{kind}' (event, debug, result)")
        log = director.tasks.task_log(task_id)
        path = {"event": log.event_path, "debug": log.debug_path, "result": log.result_path}[kind]
        text, offset = await asyncio.to_thread(read_from, path, int(request.query.get("offset", "0")))
        return web.Response(text=text, headers={"X-Next-Offset": str(offset)})

    @routes.delete("/tasks/{task_id}")
    async def cancel_task(request: web.Request) -> web.Response:
        cancelled = director.tasks.cancel(int(request.match_info["task_id"]))
        return web.json_response({"cancelled": cancelled})

    @routes.get("/locks")
    async def locks(_request: web.Request) -> web.Response:
        return web.json_response([{"type": "deployment", "resource": lock.name.split(":", 1)[-1],
                                   "task_id": lock.task_id, "expires_at": int(lock.expires_at.timestamp())}
                                  for lock in director.locks.active()])

    @routes.get("/events")
    async def events(request: web.Request) -> web.Response:
        with director.sessions() as session:
            query = select(Event).order_by(Event.id.desc()).limit(int(request.query.get("limit", "50")))
            if request.query.get("deployment"):
                query = query.where(Event.deployment_name == request.query["deployment"])
            rows = [{"id": e.id, "time": int(e.timestamp.timestamp()), "action": e.action,
                     "object_type": e.object_type, "object_name": e.object_name, "task_id": e.task_id,
                     "deployment": e.deployment_name, "instance": e.instance, "error": e.error,
                     "context": e.context} for e in session.scalars(query)]
        return web.json_response(rows)

    app.add_routes(routes)
    return app
