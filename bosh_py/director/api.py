"""The director's HTTP/JSON API for the CLI. Every change is a task; reads are direct.

Paths follow the BOSH director's where one exists (/info, /deployments, /releases,
/stemcells, /tasks, /locks, /events, /configs). Secrets never leave through here except
the credentials an operator asks for by name (none yet).
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from sqlalchemy import select

from bosh_py.director import (cli_variables, cpi_configs, deployment_views, runtime_configs,
                              task_kinds)
from bosh_py.director.api_common import INSTANCE_ACTIONS, api_user, task_json
from bosh_py.director.api_cck import cck_routes
from bosh_py.director.api_errands import errand_routes
from bosh_py.director.api_releases import release_routes
from bosh_py.director.metrics import install_metrics
from bosh_py.director.api_errors import (MAX_ID, ApiError, NotFound, bool_field, errors_as_json, int_field,
                                         int_query, json_object, path_id, string_field)
from bosh_py.director.uaa_auth import UaaTokenVerifier, info_section, operator_auth_middleware
from bosh_py.director.cpi_registry import cpi_names_in_force
from bosh_py.director.event_log import read_from
from bosh_py.director.jobs import delete_stemcell, deployment_actions
from bosh_py.director.jobs.deploy import DeployOptions
from bosh_py.director.jobs.instance_action_options import instance_action_options
from bosh_py.director.manifest_input import prepare_cloud_config, prepare_deployment, stored_variables
from bosh_py.director.models import CloudConfig, Deployment, Event, Stemcell, Task
from bosh_py.director.services import Director
from bosh_py.director.tasks import UNFINISHED
from bosh_py.errors import BoshPyError
from bosh_py.manifest.update import check_flag

VERSION = "0.1.0"
MAX_OUTPUT_WAIT = 10  # seconds a task-output request may be held (short: a stopping director waits for it)
OUTPUT_WAIT_POLL = 0.05  # how often a held request looks at the task
CONFIG_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def build_app(director: Director) -> web.Application:
    app = web.Application(middlewares=[
        operator_auth_middleware("admin", director.secrets.admin_password,
                                 UaaTokenVerifier(director.config.uaa) if director.config.uaa else None,
                                 director.uuid, frozenset({"/info"})),
        errors_as_json,
    ], client_max_size=0)
    routes = web.RouteTableDef()

    def task_response(task_id: int) -> web.Response:
        return web.json_response(task_json(director.tasks.get(task_id)), status=202)

    def existing_deployment(name: str) -> str:
        with director.sessions() as session:
            if session.scalars(select(Deployment.id).where(Deployment.name == name)).first() is None:
                raise NotFound(f"Deployment '{name}' doesn't exist")
        return name

    def existing_task(request: web.Request) -> Task:
        task_id = path_id(request, "task_id", "task")
        row = director.tasks.get(task_id)
        if row is None:
            raise NotFound(f"Task {task_id} not found")
        return row

    @routes.get("/info")
    async def info(_request: web.Request) -> web.Response:
        return web.json_response({"name": director.config.name, "uuid": director.uuid, "version": VERSION,
                                  "cpi": director.config.cpi.executable, "user": None,
                                  "user_authentication": info_section(director.config.uaa)})

    # --- cloud config and cpi config -------------------------------------------------------
    def config_type(value: object) -> str:
        kind = "cloud" if value is None else value
        if kind not in ("cloud", "cpi", "runtime"):
            raise ApiError(f"type: unknown config type '{str(kind)[:40]}' (cloud, cpi, runtime)")
        return str(kind)

    def config_name(value: object) -> str:
        name = runtime_configs.DEFAULT_NAME if value is None else value
        if not isinstance(name, str) or not CONFIG_NAME.fullmatch(name):
            raise ApiError("name: expected a config name of letters, digits, '.', '_' or '-' (at most 100)")
        return name

    @routes.get("/configs")
    async def get_configs(request: web.Request) -> web.Response:
        kind = config_type(request.query.get("type"))
        if kind == "cpi":
            shown = await asyncio.to_thread(cpi_configs.redacted_cpi_config, director)
            return web.json_response([shown] if shown else [])
        if kind == "runtime":
            name = config_name(request.query["name"]) if "name" in request.query else None
            return web.json_response(await asyncio.to_thread(runtime_configs.runtime_configs_json, director, name))
        with director.sessions() as session:
            latest = session.scalars(select(CloudConfig).order_by(CloudConfig.id.desc())).first()
        if latest is None:
            return web.json_response([])
        return web.json_response([{"id": latest.id, "type": "cloud", "name": "default", "content": latest.content}])

    @routes.post("/configs")
    async def post_config(request: web.Request) -> web.Response:
        body = await json_object(request)
        text = string_field(body, "content", default="") or ""
        kind = config_type(body.get("type"))
        if kind == "cpi":
            result = await asyncio.to_thread(cpi_configs.update_cpi_config, director, text)
            return web.json_response(result, status=201 if result["changed"] else 200)
        if kind == "runtime":
            result = await asyncio.to_thread(runtime_configs.update_runtime_config, director,
                                             config_name(body.get("name")), text)
            return web.json_response(result, status=201 if result["changed"] else 200)
        prepare_cloud_config(text, cpi_names_in_force(director.sessions))
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
    # /releases: api_releases.py
    @routes.get("/stemcells")
    async def stemcells(_request: web.Request) -> web.Response:
        with director.sessions() as session:
            rows = [{"name": s.name, "version": s.version, "os": s.operating_system, "cid": s.cid, "cpi": s.cpi,
                     "in_use": bool(delete_stemcell.deployments_using(session, s.name, s.version))}
                    for s in session.scalars(select(Stemcell).order_by(Stemcell.name, Stemcell.id))]
        return web.json_response(rows)

    @routes.delete("/stemcells/{name}/{version}")
    async def delete_stemcell_route(request: web.Request) -> web.Response:
        """Every copy, each through the CPI that holds it (BOSH's DELETE /stemcells/:name/:version)."""
        name, version = request.match_info["name"], request.match_info["version"]
        await asyncio.to_thread(delete_stemcell.check_deletable, director, name, version)
        task_id = director.tasks.submit(f"delete stemcell {name}/{version}", None, "delete_stemcell",
                                        {"name": name, "version": version})
        return task_response(task_id)

    @routes.get("/cpis")
    async def cpis(_request: web.Request) -> web.Response:
        return web.json_response(await cpi_configs.list_cpis(director))

    @routes.post("/stemcells")
    async def post_stemcell(request: web.Request) -> web.Response:
        upload = await task_kinds.stage_upload(director, request.content.iter_chunked(1 << 20))
        task_id = director.tasks.submit("create stemcell", None, "upload_stemcell", {task_kinds.UPLOAD: upload})
        return task_response(task_id)

    # --- deployments --------------------------------------------------------------------
    @routes.get("/deployments")
    async def deployments(_request: web.Request) -> web.Response:
        with director.sessions() as session:
            return web.json_response(deployment_views.list_deployments(session))

    @routes.post("/deployments/diff")
    async def diff(request: web.Request) -> web.Response:
        body = await json_object(request)
        source = prepare_deployment(director, string_field(body, "manifest") or "", generate=False)
        source.secret_values = cli_variables.with_cli_secrets(source.secret_values,
                                                              cli_variables.cli_variables_field(body))
        redact = body.get("redact", True) is not False
        return web.json_response({"diff": deployment_views.manifest_diff(director, source, redact)})

    @routes.post("/deployments")
    async def post_deployment(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            canaries = check_flag("canaries", body.get("canaries"))
            max_in_flight = check_flag("max_in_flight", body.get("max_in_flight"))
        except ValueError as error:
            raise ApiError(str(error)) from None
        options = DeployOptions(recreate=bool_field(body, "recreate"), dry_run=bool_field(body, "dry_run"),
                                fix=bool_field(body, "fix"), skip_drain=bool_field(body, "skip_drain"),
                                canaries=canaries, max_in_flight=max_in_flight)
        given = cli_variables.cli_variables_field(body)
        source = prepare_deployment(director, string_field(body, "manifest") or "", generate=True)
        name = source.manifest["name"]
        source.secret_values = cli_variables.with_cli_secrets(source.secret_values, given)
        if not options.dry_run:  # kept before the task starts: its log tails are scrubbed with them
            cli_variables.remember(director, name, given)
        task_id = director.tasks.submit(f"create deployment{' (dry run)' if options.dry_run else ''}", name, "deploy",
                                        {"manifest": source.manifest_text, "cli_variables": given,
                                         "cloud_config_id": source.cloud_config_id,
                                         "runtime_config_ids": source.runtime_config_ids,
                                         "options": task_kinds.options_json(options)})
        return task_response(task_id)

    @routes.get("/deployments/{name}")
    async def get_deployment(request: web.Request) -> web.Response:
        with director.sessions() as session:
            row = deployment_views.find_deployment(session, existing_deployment(request.match_info["name"]))
            return web.json_response({"name": row.name, "manifest": row.manifest_text})

    @routes.delete("/deployments/{name}")
    async def delete_deployment(request: web.Request) -> web.Response:
        name = existing_deployment(request.match_info["name"])
        force = request.query.get("force") == "true"
        task_id = director.tasks.submit("delete deployment", name, "delete_deployment",
                                        {"deployment": name, "force": force})
        return task_response(task_id)

    @routes.get("/deployments/{name}/instances")
    async def instances(request: web.Request) -> web.Response:
        name = existing_deployment(request.match_info["name"])
        rows = await deployment_views.instances_with_state(director, name)
        return web.json_response(rows)

    @routes.post("/deployments/{name}/instances/action")
    async def instance_action(request: web.Request) -> web.Response:
        body = await json_object(request)
        action, selector = string_field(body, "action"), string_field(body, "instance", required=False)
        if action not in INSTANCE_ACTIONS:
            raise ApiError(f"action: must be one of {', '.join(INSTANCE_ACTIONS)}")
        options = instance_action_options(action, body)
        name = existing_deployment(request.match_info["name"])
        if action == "recreate":
            kind, params = "recreate", deployment_actions.recreate_params(director, name, selector, options)
        else:
            kind, params = "change_state", {"deployment": name, "action": action, "selector": selector,
                                            "options": task_kinds.options_json(options)}
        task_id = director.tasks.submit(f"{action} instances{' (dry run)' if options.dry_run else ''}", name,
                                        kind, params)
        return task_response(task_id)

    @routes.post("/deployments/{name}/logs")
    async def logs(request: web.Request) -> web.Response:
        selector = string_field(await json_object(request), "instance", required=False)
        name = existing_deployment(request.match_info["name"])
        task_id = director.tasks.submit(deployment_actions.FETCH_LOGS, name, "fetch_logs",
                                        {"deployment": name, "selector": selector})
        return task_response(task_id)

    @routes.post("/deployments/{name}/ssh")
    async def ssh(request: web.Request) -> web.Response:
        body = await json_object(request)
        action = string_field(body, "action", default="setup")
        if action not in ("setup", "cleanup"):
            raise ApiError("action: must be setup or cleanup")
        session = deployment_actions.SshSession(
            deployment=request.match_info["name"], selector=string_field(body, "instance") or "",
            public_key=string_field(body, "public_key") or "", user=api_user(request),
            lifetime=int_field(body, "expires_in", deployment_actions.SSH_KEY_LIFETIME, 1,
                               deployment_actions.SSH_KEY_LIFETIME))
        existing_deployment(session.deployment)
        target = await deployment_actions.ssh_access(director, session, action)
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
            raise NotFound(f"Variable '{request.match_info['variable']}' not found")
        return web.json_response({"name": request.match_info["variable"],
                                  "value": values[request.match_info["variable"]]})

    @routes.get("/disks")
    async def disks(request: web.Request) -> web.Response:
        if request.query.get("orphaned") != "true":
            raise BoshPyError("Only orphaned disks can be listed: GET /disks?orphaned=true")
        with director.sessions() as session:
            return web.json_response(deployment_views.orphaned_disks(session))

    @routes.put("/disks/{cid}/attachments")
    async def attach_disk(request: web.Request) -> web.Response:
        """Give an orphaned disk back to an instance (BOSH's PUT /disks/:cid/attachments)."""
        cid = request.match_info["cid"]
        body = await json_object(request)
        deployment, instance = string_field(body, "deployment"), string_field(body, "instance")
        with director.sessions() as session:
            deployment_views.find_deployment(session, deployment)
        task_id = director.tasks.submit(f"attach disk {cid} to {instance}", deployment, "attach_disk",
                                        {"deployment": deployment, "instance": instance, "cid": cid})
        return task_response(task_id)

    @routes.delete("/disks/{cid}")
    async def delete_disk(request: web.Request) -> web.Response:
        """An orphaned disk only: a disk in use is never deleted through here."""
        cid = request.match_info["cid"]
        with director.sessions() as session:
            if not any(d["disk_cid"] == cid for d in deployment_views.orphaned_disks(session)):
                raise BoshPyError(f"Orphaned disk '{cid}' not found (`bosh-py disks --orphaned` lists them)")
        task_id = director.tasks.submit(f"delete orphaned disk {cid}", None, "delete_orphaned_disk", {"cid": cid})
        return task_response(task_id)

    @routes.get("/resources/{blob_id}")
    async def resource(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(await asyncio.to_thread(director.blobstore.get_path, request.match_info["blob_id"]))

    @routes.delete("/resources/{blob_id}")
    async def delete_resource(request: web.Request) -> web.Response:
        """The CLI deletes a logs blob once downloaded; no other blob can be deleted here."""
        blob_id = request.match_info["blob_id"]
        if not deployment_actions.is_logs_blob(director, blob_id):
            raise NotFound(f"No fetched logs with blob id '{blob_id[:40]}'")
        await asyncio.to_thread(deployment_actions.delete_logs_blob, director, blob_id)
        return web.json_response({"deleted": blob_id})

    # --- tasks, locks, events -----------------------------------------------------------
    @routes.get("/tasks")
    async def tasks(request: web.Request) -> web.Response:
        limit = int_query(request, "limit", 30, 1, 10000)
        recent = request.query.get("state") != "processing"
        rows = director.tasks.list(request.query.get("deployment"), limit, recent)
        return web.json_response([task_json(t) for t in rows])

    @routes.get("/tasks/{task_id}")
    async def task(request: web.Request) -> web.Response:
        return web.json_response(task_json(existing_task(request)))

    @routes.get("/tasks/{task_id}/output")
    async def task_output(request: web.Request) -> web.Response:
        """The log past ``offset``, with the task's state. With ``wait`` (seconds), an
        unfinished task's empty answer is held until there is more or the task ends, so a
        CLI following a task hears its end at once without polling."""
        row = existing_task(request)
        kind = request.query.get("type", "event")
        if kind not in ("event", "debug", "result"):
            raise ApiError(f"type: unknown task output type '{kind[:40]}' (event, debug, result)")
        offset = int_query(request, "offset", 0, 0, MAX_ID)
        wait = int_query(request, "wait", 0, 0, MAX_OUTPUT_WAIT)
        log = director.tasks.task_log(row.id)
        path = {"event": log.event_path, "debug": log.debug_path, "result": log.result_path}[kind]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            # the state is read before the log: a task that had ended by then has all its log
            state = row.state
            text, offset = await asyncio.to_thread(read_from, path, offset)
            if text or state not in UNFINISHED or loop.time() >= deadline:
                break
            await asyncio.sleep(OUTPUT_WAIT_POLL)
            row = existing_task(request)
        return web.Response(text=text, headers={"X-Next-Offset": str(offset), "X-Task-State": state})

    @routes.delete("/tasks/{task_id}")
    async def cancel_task(request: web.Request) -> web.Response:
        cancelled = director.tasks.cancel(existing_task(request).id)
        return web.json_response({"cancelled": cancelled})

    @routes.get("/locks")
    async def locks(_request: web.Request) -> web.Response:
        return web.json_response([{"type": "deployment", "resource": lock.name.split(":", 1)[-1],
                                   "task_id": lock.task_id, "expires_at": int(lock.expires_at.timestamp())}
                                  for lock in director.locks.active()])

    @routes.get("/events")
    async def events(request: web.Request) -> web.Response:
        with director.sessions() as session:
            query = select(Event).order_by(Event.id.desc()).limit(int_query(request, "limit", 50, 1, 10000))
            if request.query.get("deployment"):
                query = query.where(Event.deployment_name == request.query["deployment"])
            rows = [{"id": e.id, "time": int(e.timestamp.timestamp()), "action": e.action,
                     "object_type": e.object_type, "object_name": e.object_name, "task_id": e.task_id,
                     "deployment": e.deployment_name, "instance": e.instance, "error": e.error,
                     "context": e.context} for e in session.scalars(query)]
        return web.json_response(rows)

    app.add_routes(routes)
    app.add_routes(errand_routes(director))
    app.add_routes(release_routes(director))
    app.add_routes(cck_routes(director))
    install_metrics(app, director)  # GET /metrics (metrics.py)
    return app
