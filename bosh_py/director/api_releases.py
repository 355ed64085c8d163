"""The director API for releases, as BOSH's paths where it has them:

- ``GET /releases``: name, version, commit hash, in use, for every stored version;
- ``GET /releases/{name}/{version}``: jobs and packages with fingerprints, and the stemcells
  each package is compiled for (``inspect-release``);
- ``POST /releases``: a tarball as the body (``?fix=true&sha1=…``), or JSON
  ``{"location": URL, "sha1", "name", "version", "fix"}`` for the director to fetch;
- ``DELETE /releases/{name}?version=&force=``: delete one version or all;
- ``POST /releases/export``: a compiled release (``export-release``); its tarball is fetched
  once from ``GET /releases/exports/{blob_id}`` and deleted with ``DELETE`` there;
- ``POST /cleanup``: ``clean-up [--all]``.

Every change is a task. These routes sit behind the same admin basic auth as the rest of
the API (``uaa_auth.operator_auth_middleware``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import select

from bosh_py.director import task_kinds
from bosh_py.director.api_common import task_json
from bosh_py.director.api_errors import (
    ApiError,
    NotFound,
    bool_field,
    json_object,
    string_field,
)
from bosh_py.director.jobs import (
    delete_release,
    export_release,
    upload_release,
)
from bosh_py.director.jobs.fetch_release import check_digest_format, check_url
from bosh_py.director.models import (
    CompiledPackage,
    Package,
    Release,
    ReleaseVersion,
    Template,
)
from bosh_py.director.services import Director


def release_routes(director: Director) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    def task_response(task_id: int) -> web.Response:
        return web.json_response(task_json(director.tasks.get(task_id)), status=202)

    @routes.get("/releases/exports/{blob_id}")
    async def exported(request: web.Request) -> web.StreamResponse:
        blob_id = _export_blob(director, request.match_info["blob_id"])
        return web.FileResponse(await asyncio.to_thread(director.blobstore.get_path, blob_id))

    @routes.delete("/releases/exports/{blob_id}")
    async def delete_exported(request: web.Request) -> web.Response:
        blob_id = _export_blob(director, request.match_info["blob_id"])
        director.blobstore.delete(blob_id)
        return web.json_response({"deleted": blob_id})

    @routes.get("/releases")
    async def releases(_request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(list_releases, director))

    @routes.get("/releases/{name}/{version}")
    async def inspect(request: web.Request) -> web.Response:
        shown = await asyncio.to_thread(inspect_release, director, request.match_info["name"],
                                        request.match_info["version"])
        return web.json_response(shown)

    @routes.post("/releases")
    async def post_release(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await json_object(request)
            url = check_url(string_field(body, "location") or "")
            options = _options(bool_field(body, "fix"), string_field(body, "sha1", required=False),
                               string_field(body, "name", required=False),
                               string_field(body, "version", required=False))
            task_id = director.tasks.submit("create release", None, "upload_release_url",
                                            {"url": url, "options": task_kinds.options_json(options)})
            return task_response(task_id)
        options = _options(request.query.get("fix") == "true", request.query.get("sha1"), None, None)
        upload = await task_kinds.stage_upload(director, request.content.iter_chunked(1 << 20))
        task_id = director.tasks.submit("create release", None, "upload_release",
                                        {task_kinds.UPLOAD: upload, "options": task_kinds.options_json(options)})
        return task_response(task_id)

    @routes.delete("/releases/{name}")
    async def delete(request: web.Request) -> web.Response:
        name, version = request.match_info["name"], request.query.get("version") or None
        force = request.query.get("force") == "true"
        await asyncio.to_thread(delete_release.check_deletable, director, name, version, force)
        what = f"{name}/{version}" if version else name
        task_id = director.tasks.submit(f"delete release {what}", None, "delete_release",
                                        {"name": name, "version": version, "force": force})
        return task_response(task_id)

    @routes.post("/releases/export")
    async def export(request: web.Request) -> web.Response:
        body = await json_object(request)
        deployment = string_field(body, "deployment_name") or ""
        name, version = string_field(body, "release_name") or "", string_field(body, "release_version") or ""
        os_name, os_version = string_field(body, "stemcell_os") or "", string_field(body, "stemcell_version") or ""
        await asyncio.to_thread(export_release.check_exportable, director, deployment, name, version, os_name,
                                os_version)
        task_id = director.tasks.submit(
            f"{export_release.EXPORT_DESCRIPTION} {name}/{version} {os_name}/{os_version}", deployment,
            "export_release", {"deployment": deployment, "name": name, "version": version, "os": os_name,
                               "os_version": os_version})
        return task_response(task_id)

    @routes.post("/cleanup")
    async def cleanup(request: web.Request) -> web.Response:
        remove_all = bool_field(await json_object(request), "all")
        task_id = director.tasks.submit(f"clean up{' (all)' if remove_all else ''}", None, "clean_up",
                                        {"all": remove_all})
        return task_response(task_id)

    return routes


def _options(fix: bool, sha1: str | None, name: str | None, version: str | None) -> upload_release.UploadOptions:
    if bool(name) != bool(version):
        raise ApiError("name, version: give both (the release the URL holds) or neither")
    return upload_release.UploadOptions(fix=fix, sha1=check_digest_format(sha1), expected_name=name or None,
                                        expected_version=version or None)


def _export_blob(director: Director, blob_id: str) -> str:
    if not director.blobstore.exists(blob_id) or not export_release.is_export_blob(director, blob_id):
        raise NotFound(f"No exported release with blob id '{blob_id[:40]}'")
    return blob_id


def list_releases(director: Director) -> list[dict]:
    with director.sessions() as session:
        in_use = delete_release.versions_in_use(session)
        return [{"name": r.name, "version": v.version, "commit_hash": v.manifest.get("commit_hash"),
                 "uncommitted_changes": bool(v.manifest.get("uncommitted_changes")),
                 "in_use": (r.name, v.version) in in_use}
                for r in session.scalars(select(Release).order_by(Release.name))
                for v in sorted(r.versions, key=lambda v: v.id)]


def inspect_release(director: Director, name: str, version: str) -> dict:
    with director.sessions() as session:
        row = session.scalars(select(ReleaseVersion).join(Release).where(
            Release.name == name, ReleaseVersion.version == version)).first()
        if row is None:
            raise NotFound(f"Release '{name}/{version}' not found (`bosh-py releases` lists them)")
        manifest = row.manifest
        jobs = []
        for entry in manifest.get("jobs") or []:
            template = session.scalars(select(Template).where(
                Template.release_name == name, Template.name == entry["name"],
                Template.fingerprint == entry["fingerprint"])).first()
            jobs.append({"name": entry["name"], "fingerprint": entry["fingerprint"],
                         "sha1": template.sha1 if template else None,
                         "blobstore_id": template.blobstore_id if template else None,
                         "packages": list(entry.get("packages") or [])})
        packages = []
        for entry in manifest.get("packages") or []:
            package = session.scalars(select(Package).where(
                Package.release_name == name, Package.name == entry["name"],
                Package.fingerprint == entry["fingerprint"])).first()
            compiled = session.scalars(select(CompiledPackage).where(
                CompiledPackage.package_fingerprint == entry["fingerprint"]).order_by(CompiledPackage.id))
            packages.append({"name": entry["name"], "fingerprint": entry["fingerprint"],
                             "sha1": (package.sha1 or None) if package else None,
                             "source": bool(package and package.blobstore_id),
                             "dependencies": list(entry.get("dependencies") or []),
                             "compiled_for": sorted({f"{c.stemcell_os}/{c.stemcell_version}" for c in compiled})})
        return {"name": name, "version": version, "commit_hash": manifest.get("commit_hash"),
                "jobs": jobs, "packages": packages}

