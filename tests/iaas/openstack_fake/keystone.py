"""Keystone v3 password authentication, scoped to the fake's one project, returning a token and a
service catalog that points every service at this server."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web

from .bodies import body_of, reply
from .cloud import Cloud
from .errors import ApiError, bad_request

TOKEN_LIFETIME = timedelta(hours=1)


def catalog(cloud: Cloud, base_url: str) -> list[dict]:
    """One public endpoint per service, with the type and name libcloud's connections look up."""
    services = [("identity", "keystone", f"{base_url}/identity"),
                ("compute", "nova", f"{base_url}/compute/v2.1"),
                ("image", "glance", f"{base_url}/image"),
                ("network", "neutron", f"{base_url}/network"),
                ("volumev3", "cinderv3", f"{base_url}/volume/v3/{cloud.project_id}"),
                ("block-storage", "cinder", f"{base_url}/volume/v3/{cloud.project_id}")]
    return [{"id": name, "type": kind, "name": name,
             "endpoints": [{"id": f"{name}-public", "interface": "public", "region": cloud.credentials.region,
                            "region_id": cloud.credentials.region, "url": url}]}
            for kind, name, url in services]


def check_password_auth(cloud: Cloud, auth: dict) -> None:
    """A 401 for any mismatch (unknown user, wrong password, wrong project) without saying which,
    as Keystone does; a 400 for a body that is not password auth at all."""
    identity = auth.get("identity")
    if not isinstance(identity, dict) or "password" not in (identity.get("methods") or []):
        raise bad_request("Expecting to find identity.methods with 'password' in auth.")
    user = (identity.get("password") or {}).get("user") or {}
    project = ((auth.get("scope") or {}).get("project")) or {}
    expected = cloud.credentials
    matches = (user.get("name") == expected.username and user.get("password") == expected.password
               and (user.get("domain") or {}).get("name", expected.domain) == expected.domain
               and project.get("name", expected.project) == expected.project)
    if not matches:
        raise ApiError(401, "The request you have made requires authentication.")


def routes(cloud: Cloud, base_url: str) -> list[web.RouteDef]:
    def token_body(expires: datetime) -> dict:
        return {"token": {"methods": ["password"], "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                          "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                          "user": {"id": cloud.user_id, "name": cloud.credentials.username,
                                   "domain": {"id": "default", "name": cloud.credentials.domain}},
                          "project": {"id": cloud.project_id, "name": cloud.credentials.project,
                                      "domain": {"id": "default", "name": cloud.credentials.domain}},
                          "roles": [{"id": "member", "name": "member"}],
                          "catalog": catalog(cloud, base_url)}}

    async def issue_token(request: web.Request) -> web.Response:
        check_password_auth(cloud, await body_of(request, "auth"))
        token = secrets.token_hex(16)
        cloud.tokens.add(token)
        return reply(token_body(datetime.now(UTC) + TOKEN_LIFETIME), status=201,
                     headers={"X-Subject-Token": token})

    async def validate_token(request: web.Request) -> web.Response:
        token = request.headers.get("X-Subject-Token", "")
        if token not in cloud.tokens:
            raise ApiError(404, "Could not find token.")
        return reply(token_body(datetime.now(UTC) + TOKEN_LIFETIME), headers={"X-Subject-Token": token})

    return [web.post("/identity/v3/auth/tokens", issue_token), web.get("/identity/v3/auth/tokens", validate_token)]
