"""The public HTTP API: ``/v2/info``, the v2 app, route and domain resources, the tenancy
routes (tenancy/api.py) and, only without a UAA, the built-in ``/oauth/token``.

Handlers parse the request, pass tenancy/access.py's gate (token, scope, the caller's roles
on the app), call the app service and present the result; app decisions live in
:mod:`app_service`, access decisions in tenancy/permissions.py.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

from . import errors, presenters
from .app_service import AppService
from .auth import Authenticator, TokenIssuer, UaaAuthenticator, check_password
from .blobs import Blobstore, BlobTooLarge
from .config import CcConfig
from .multipart import MultipartError, boundary_of, parse_parts
from .tenancy.access import Access
from .tenancy.api import TenancyApi
from .tenancy.deletion import Deleter
from .tenancy.store import TenancyStore
from .web import Handler, Request, Response, Router

API_VERSION = "2.0.0-bosh-py"


class PublicApi:
    def __init__(self, config: CcConfig, service: AppService, blobs: Blobstore, tokens: Authenticator) -> None:
        self.config = config
        self.service = service
        self.blobs = blobs
        self.tokens = tokens
        self.tenancy = TenancyStore(service.db)
        self.access = Access(self.tenancy, tokens)
        # deleting a space deletes its apps as a user's delete does (server.py adds services)
        self.deleter = Deleter(self.tenancy, service.delete)

    def register(self, router: Router) -> None:
        g = self.access.guard

        def a(handler: Handler) -> Handler:   # /v2/apps/<guid>...: the caller's roles on that app
            return g(handler, app=True)
        router.add("POST", "/oauth/token", self.token)
        router.add("GET", "/v2/info", self.info)
        router.add("GET", "/v2/apps", g(self.list_apps))
        router.add("POST", "/v2/apps", g(self.create_app))
        router.add("GET", "/v2/apps/<guid>", a(self.get_app))
        router.add("PUT", "/v2/apps/<guid>", a(self.update_app))
        router.add("DELETE", "/v2/apps/<guid>", a(self.delete_app))
        router.add("PUT", "/v2/apps/<guid>/bits", a(self.upload_bits))
        router.add("GET", "/v2/apps/<guid>/routes", a(self.app_routes))
        router.add("PUT", "/v2/apps/<guid>/routes/<route_guid>", a(self.bind_route))
        router.add("DELETE", "/v2/apps/<guid>/routes/<route_guid>", a(self.unbind_route))
        router.add("GET", "/v2/apps/<guid>/instances", a(self.instances))
        router.add("GET", "/v2/apps/<guid>/stats", a(self.stats))
        router.add("GET", "/v2/apps/<guid>/crashes", a(self.crashes))
        router.add("GET", "/v2/apps/<guid>/logs", a(self.logs))
        router.add("GET", "/v2/apps/<guid>/staging_log", a(self.staging_log))
        router.add("GET", "/v2/routes", g(self.list_routes))
        router.add("POST", "/v2/routes", g(self.create_route))
        router.add("GET", "/v2/routes/<guid>", g(self.get_route))
        router.add("DELETE", "/v2/routes/<guid>", g(self.delete_route))
        router.add("GET", "/v2/shared_domains", g(self.shared_domains))
        router.add("GET", "/v2/shared_domains/<guid>", g(self.shared_domain))
        TenancyApi(self.tenancy, self.access, self.deleter).register(router)

    # -- open endpoints -------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        if not isinstance(self.tokens, TokenIssuer):
            return _oauth_error(404, "invalid_request", "this cloud controller takes UAA tokens: get one from "
                                f"{self._token_endpoint(request)}/oauth/token")
        raw = request.body(1024 * 1024)
        ctype = (request.header("Content-Type") or "").lower()
        if ctype.startswith("application/json"):
            try:
                form = json.loads(raw or b"{}")
            except ValueError:
                form = None
            if not isinstance(form, dict):
                return _oauth_error(400, "invalid_request", "the body is not a JSON object")
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "password":
            return _oauth_error(400, "unsupported_grant_type", "only grant_type=password is supported")
        user, password = form.get("username"), form.get("password")
        if not isinstance(user, str) or not isinstance(password, str) or not user:
            return _oauth_error(400, "invalid_request", "username and password are required")
        if not check_password(self.config.users, user, password):
            return _oauth_error(401, "unauthorized", "Bad credentials")
        return Response.json(self.tokens.issue(user))

    def info(self, request: Request) -> Response:
        return Response.json({
            "name": "bosh-py", "build": "cf-py", "support": "", "version": 2, "api_version": API_VERSION,
            "description": "Cloud Foundry v2 API subset on bosh-py",
            "authorization_endpoint": self._token_endpoint(request),
            "token_endpoint": self._token_endpoint(request),
            "app_domain": self.config.domain, "min_cli_version": None,
            "logging_endpoint": self.config.extra.get("logging_endpoint"),   # the log server (docs/logs.md)
        })

    def _token_endpoint(self, request: Request) -> str:
        """The UAA's URL (as CF v2 advertises it), or this CC's own for the built-in issuer."""
        if isinstance(self.tokens, UaaAuthenticator):
            return self.tokens.url
        return self._self_url(request)

    def _self_url(self, request: Request) -> str:
        host = request.header("Host") or f"{self.config.external_host}:{self.config.advertised_port}"
        return f"http://{host}"

    # -- apps -----------------------------------------------------------------------------

    def _present(self, app) -> dict:
        return presenters.app(app, self.service.uris(app.guid))

    def list_apps(self, request: Request) -> Response:
        apps = self.access.readable_apps(request.identity, self.service.db.list_apps())
        name = _filter(request, "name")
        if name is not None:
            apps = [a for a in apps if a.name == name]
        space_guid = _filter(request, "space_guid")
        if space_guid is not None:
            apps = [a for a in apps if a.space_guid == space_guid]
        return Response.json(presenters.page(self._present(a) for a in apps))

    def create_app(self, request: Request) -> Response:
        body = request.json()
        body["space_guid"] = self.access.space_for_new_app(request.identity, body.get("space_guid")).guid
        app = self.service.create(body)
        return Response.json(self._present(app), 201)

    def get_app(self, request: Request) -> Response:
        return Response.json(self._present(self.service.get(request.params["guid"])))

    def update_app(self, request: Request) -> Response:
        app = self.service.update(request.params["guid"], request.json())
        return Response.json(self._present(app), 201)

    def delete_app(self, request: Request) -> Response:
        self.service.delete(request.params["guid"])
        return Response(204)

    def upload_bits(self, request: Request) -> Response:
        guid = request.params["guid"]
        self.service.get(guid)
        if request.content_length == 0:
            raise errors.bits_invalid("the uploaded application package is empty (0 bytes)")
        limit = self.config.max_upload_mb * 1024 * 1024
        try:
            tmp, sha1 = self.blobs.receive(request.body_stream, request.content_length, limit)
        except BlobTooLarge:
            raise errors.payload_too_large(self.config.max_upload_mb) from None
        except EOFError as e:
            raise errors.bits_invalid(str(e)) from None
        request._body = b""   # consumed
        try:
            boundary = boundary_of(request.header("Content-Type") or "")
        except MultipartError as e:
            self.blobs.discard(tmp)
            raise errors.bits_invalid(str(e)) from None
        if boundary is not None:
            try:
                parts = parse_parts(tmp.read_bytes(), boundary)
            except MultipartError as e:
                raise errors.bits_invalid(str(e)) from None
            finally:
                self.blobs.discard(tmp)
            if "application" not in parts:
                raise errors.bits_invalid("the multipart upload has no 'application' part (the zip file)")
            if not parts["application"]:
                raise errors.bits_invalid("the uploaded application package is empty (0 bytes)")
            tmp, sha1 = self.blobs.store_bytes(parts["application"])
        app = self.service.accept_bits(guid, tmp, sha1)
        return Response.json(self._present(app), 201)

    def staging_log(self, request: Request) -> Response:
        app = self.service.get(request.params["guid"])
        return Response.json({"package_state": app.package_state, "log": app.staging_log,
                              "staging_failed_reason": app.staging_failed_reason,
                              "staging_failed_description": app.staging_failed_description,
                              "detected_buildpack": app.detected_buildpack})

    def instances(self, request: Request) -> Response:
        return Response.json(self.service.instances(request.params["guid"]))

    def stats(self, request: Request) -> Response:
        return Response.json(self.service.stats(request.params["guid"]))

    def crashes(self, request: Request) -> Response:
        app = self.service.get(request.params["guid"])
        return Response.json([{"instance": c.instance, "since": c.since, "index": c.index, "version": c.version,
                               "exit_status": c.exit_status, "exit_description": c.exit_description,
                               "current_version": c.version == app.version}
                              for c in self.service.db.crashes(app.guid)])

    def logs(self, request: Request) -> Response:
        return Response.json({"instances": self.service.logs(request.params["guid"]), "at": time.time()})

    # -- routes and domains ---------------------------------------------------------------

    def _present_route(self, route) -> dict:
        domain = self.service.db.get_domain(route.domain_guid)
        return presenters.route(route, domain.name if domain else None, self.service.db.route_apps(route.guid))

    def app_routes(self, request: Request) -> Response:
        app = self.service.get(request.params["guid"])
        return Response.json(presenters.page(self._present_route(r) for r in self.service.db.app_routes(app.guid)))

    def bind_route(self, request: Request) -> Response:
        self._may_change_route(request, request.params["route_guid"])
        app = self.service.bind_route(request.params["guid"], request.params["route_guid"])
        return Response.json(self._present(app), 201)

    def unbind_route(self, request: Request) -> Response:
        self.service.unbind_route(request.params["guid"], request.params["route_guid"])
        return Response(204)

    def list_routes(self, request: Request) -> Response:
        host = _filter(request, "host")
        routes = self.service.db.list_routes(host.lower() if host else None)
        return Response.json(presenters.page(self._present_route(r) for r in routes))

    def create_route(self, request: Request) -> Response:
        return Response.json(self._present_route(self.service.create_route(request.json())), 201)

    def get_route(self, request: Request) -> Response:
        return Response.json(self._present_route(self.service.get_route(request.params["guid"])))

    def _may_change_route(self, request: Request, route_guid: str) -> None:
        """Binding or deleting a route takes traffic from the apps on it: only who may change
        every one of them may (else another space could share an app's requests)."""
        route = self.service.get_route(route_guid)
        for app_guid in self.service.db.route_apps(route.guid):
            self.access.check_app_guid(request.identity, app_guid, write=True)

    def delete_route(self, request: Request) -> Response:
        self._may_change_route(request, request.params["guid"])
        self.service.delete_route(request.params["guid"])
        return Response(204)

    def shared_domains(self, request: Request) -> Response:
        return Response.json(presenters.page(presenters.domain(d) for d in self.service.db.list_domains()))

    def shared_domain(self, request: Request) -> Response:
        domain = self.service.db.get_domain(request.params["guid"])
        if domain is None:
            raise errors.domain_not_found(request.params["guid"])
        return Response.json(presenters.domain(domain))


def _filter(request: Request, field: str) -> str | None:
    """``?q=name:foo`` (v2's filter syntax, equality only)."""
    for q in request.query.get("q", []):
        key, sep, value = q.partition(":")
        if sep and key == field:
            return value
    return None


def _oauth_error(status: int, error: str, description: str) -> Response:
    # UAA's shape, plus the v2 fields so every client error has a description
    return Response.json({"error": error, "error_description": description, "code": 1000,
                          "description": description, "error_code": "CF-InvalidAuthToken" if status == 401
                          else "CF-InvalidRequest"}, status)


