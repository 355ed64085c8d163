"""v2 JSON shapes: ``{metadata: {guid, url, created_at}, entity: {...}}`` and paged lists."""

from __future__ import annotations

from typing import Any, Iterable

from .models import App, Domain, Organization, Route, Space, User


def resource(guid: str, url: str, created_at: str, entity: dict, updated_at: str | None = None) -> dict:
    return {"metadata": {"guid": guid, "url": url, "created_at": created_at, "updated_at": updated_at},
            "entity": entity}


def page(resources: Iterable[dict]) -> dict:
    items = list(resources)
    return {"total_results": len(items), "total_pages": 1, "prev_url": None, "next_url": None,
            "resources": items}


def app(a: App, uris: list[str]) -> dict:
    return resource(a.guid, f"/v2/apps/{a.guid}", a.created_at, {
        "name": a.name, "memory": a.memory, "instances": a.instances, "disk_quota": a.disk_quota,
        "state": a.state, "package_state": a.package_state, "version": a.version,
        "buildpack": a.buildpack, "detected_buildpack": a.detected_buildpack,
        "detected_start_command": a.start_command or "", "environment_json": a.environment,
        "staging_failed_reason": a.staging_failed_reason,
        "staging_failed_description": a.staging_failed_description,
        "package_updated_at": a.package_updated_at, "droplet_sha1": a.droplet_sha1,
        "routes_url": f"/v2/apps/{a.guid}/routes", "uris": uris,
        "space_guid": a.space_guid, "space_url": f"/v2/spaces/{a.space_guid}",
    }, a.updated_at)


def organization(o: Organization) -> dict:
    return resource(o.guid, f"/v2/organizations/{o.guid}", o.created_at, {
        "name": o.name, "status": "active", "spaces_url": f"/v2/organizations/{o.guid}/spaces",
        "managers_url": f"/v2/organizations/{o.guid}/managers", "users_url": f"/v2/organizations/{o.guid}/users",
    })


def space(s: Space) -> dict:
    return resource(s.guid, f"/v2/spaces/{s.guid}", s.created_at, {
        "name": s.name, "organization_guid": s.organization_guid,
        "organization_url": f"/v2/organizations/{s.organization_guid}",
        "developers_url": f"/v2/spaces/{s.guid}/developers", "auditors_url": f"/v2/spaces/{s.guid}/auditors",
        "apps_url": f"/v2/apps?q=space_guid:{s.guid}",
    })


def user(u: User) -> dict:
    return resource(u.guid, f"/v2/users/{u.guid}", u.created_at, {"username": u.username})


def domain(d: Domain) -> dict:
    return resource(d.guid, f"/v2/shared_domains/{d.guid}", d.created_at, {"name": d.name})


def route(r: Route, domain_name: str | None, app_guids: list[str]) -> dict:
    return resource(r.guid, f"/v2/routes/{r.guid}", r.created_at, {
        "host": r.host, "domain_guid": r.domain_guid, "domain_url": f"/v2/shared_domains/{r.domain_guid}",
        "apps_url": f"/v2/routes/{r.guid}/apps", "app_guids": app_guids,
        "url": f"{r.host}.{domain_name}" if domain_name else None,
    })


def internal_app(a: App) -> dict[str, Any]:
    """One entry of ``GET /internal/apps`` (the health manager's desired state)."""
    return {"guid": a.guid, "name": a.name, "state": a.state, "instances": a.instances, "version": a.version,
            "memory": a.memory, "package_state": a.package_state}
