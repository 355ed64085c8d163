"""Cloud-check, orphaned-VM and resurrection routes of the director API (BOSH's paths
where it has them):

- ``POST /deployments/{name}/scans``: a task that scans the deployment for problems;
- ``POST /deployments/{name}/problems``: a task that scans and resolves them
  (``{"auto": bool, "resolutions": {"missing_vm": "recreate_vm", ...}}``);
- ``GET /orphaned_vms``: VMs the director made that no instance holds;
- ``GET|PUT /resurrection``: the update-resurrection rules
  (``{"resurrection": "on"|"off", "deployment": name?, "instance_group": name?}``).
"""

from __future__ import annotations

from aiohttp import web

from bosh_py.director.api_common import api_user, task_json
from bosh_py.director.api_errors import ApiError, bool_field, json_object, string_field
from bosh_py.director.cck.job import RESOLVE_DESCRIPTION, SCAN_DESCRIPTION
from bosh_py.director.cck.problems import ResolutionError, parse_resolutions
from bosh_py.director.deployment_views import find_deployment
from bosh_py.director.models import Event
from bosh_py.director.orphan_vms import orphaned_vms
from bosh_py.director.services import Director
from bosh_py.monitor.resurrection_rules import ALL, describe, load_rules, set_rule

MAX_NAME = 255


def resolutions_field(body: dict) -> dict[str, str]:
    value = body.get("resolutions") or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ApiError("resolutions: expected an object of problem type -> resolution")
    try:
        return parse_resolutions(value)
    except ResolutionError as error:
        raise ApiError(f"resolutions: {error}") from None


def name_field(body: dict, field: str) -> str:
    value = string_field(body, field, required=False) or ALL
    if len(value) > MAX_NAME:
        raise ApiError(f"{field}: longer than {MAX_NAME} characters")
    return value


def cck_routes(director: Director) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    def submit(request: web.Request, resolving: bool, chosen: dict[str, str], auto: bool) -> web.Response:
        name = request.match_info["name"]
        with director.sessions() as session:
            find_deployment(session, name)
        user = api_user(request)
        task_id = director.tasks.submit(RESOLVE_DESCRIPTION if resolving else SCAN_DESCRIPTION, name, "cloud_check",
                                        {"deployment": name, "chosen": chosen, "auto": auto, "resolving": resolving,
                                         "user": user})
        return web.json_response(task_json(director.tasks.get(task_id)), status=202)

    @routes.post("/deployments/{name}/scans")
    async def post_scan(request: web.Request) -> web.Response:
        return submit(request, False, {}, False)

    @routes.post("/deployments/{name}/problems")
    async def post_resolve(request: web.Request) -> web.Response:
        body = await json_object(request)
        return submit(request, True, resolutions_field(body), bool_field(body, "auto"))

    @routes.get("/orphaned_vms")
    async def get_orphaned_vms(request: web.Request) -> web.Response:
        with director.sessions.begin() as session:
            return web.json_response([vm.as_json() for vm in orphaned_vms(session)])

    @routes.get("/resurrection")
    async def get_resurrection(request: web.Request) -> web.Response:
        with director.sessions() as session:
            return web.json_response(describe(load_rules(session)))

    @routes.put("/resurrection")
    async def put_resurrection(request: web.Request) -> web.Response:
        body = await json_object(request)
        state = body.get("resurrection")
        if state not in ("on", "off"):
            raise ApiError("resurrection: expected \"on\" or \"off\"")
        deployment, group = name_field(body, "deployment"), name_field(body, "instance_group")
        if group and not deployment:
            raise ApiError("instance_group: needs a deployment")
        with director.sessions.begin() as session:
            if deployment:
                find_deployment(session, deployment)
            set_rule(session, state == "on", deployment, group)
            session.add(Event(action="update resurrection", object_type="deployment" if deployment else "director",
                              object_name=deployment or director.config.name, deployment_name=deployment or None,
                              instance=group or None, context={"resurrection": state, "user": api_user(request)}))
        with director.sessions() as session:
            return web.json_response(describe(load_rules(session)))

    return routes
