"""The public HTTP API: ``/oauth/token``, ``/v2/info`` and the v2 app resources.

Handlers parse the request, check the bearer token, call the app service and present the
result; all decisions live in :mod:`app_service`.
"""

from __future__ import annotations

import json
import time

from urllib.parse import parse_qs

from . import errors, presenters
from .app_service import AppService
from .auth import TokenError, TokenIssuer, bearer_token, check_password
from .blobs import Blobstore, BlobTooLarge
from .config import CcConfig
from .multipart import MultipartError, boundary_of, parse_parts
from .web import Handler, Request, Response, Router

API_VERSION = "2.0.0-bosh-py"


class PublicApi:
    def __init__(self, config: CcConfig, service: AppService, blobs: Blobstore, tokens: TokenIssuer) -> None:
        self.config = config
        self.service = service
        self.blobs = blobs
        self.tokens = tokens

    def register(self, router: Router) -> None:
        a = self._authed
        router.add("POST", "/oauth/token", self.token)
        router.add("GET", "/v2/info", self.info)
        router.add("GET", "/v2/apps", a(self.list_apps))
        router.add("POST", "/v2/apps", a(self.create_app))
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
        router.add("GET", "/v2/routes", a(self.list_routes))
        router.add("POST", "/v2/routes", a(self.create_route))
        router.add("GET", "/v2/routes/<guid>", a(self.get_route))
        router.add("DELETE", "/v2/routes/<guid>", a(self.delete_route))
        router.add("GET", "/v2/shared_domains", a(self.shared_domains))
        router.add("GET", "/v2/shared_domains/<guid>", a(self.shared_domain))

    def _authed(self, handler: Handler) -> Handler:
        def check(request: Request) -> Response:
            token = bearer_token(request.header("Authorization"))
            if token is None:
                raise errors.invalid_auth_token("Invalid Auth Token: an 'Authorization: bearer <token>' header "
                                                "is required (POST /oauth/token to get one)")
            try:
                self.tokens.verify(token)
            except TokenError as e:
                raise errors.invalid_auth_token(str(e)) from None
            return handler(request)
        return check

    # -- open endpoints -------------------------------------------------------------------

    def token(self, request: Request) -> Response:
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
            "authorization_endpoint": self._self_url(request), "token_endpoint": self._self_url(request),
            "app_domain": self.config.domain, "min_cli_version": None,
        })

    def _self_url(self, request: Request) -> str:
        host = request.header("Host") or f"{self.config.external_host}:{self.config.advertised_port}"
        return f"http://{host}"

    # -- apps -----------------------------------------------------------------------------

    def _present(self, app) -> dict:
        return presenters.app(app, self.service.uris(app.guid))

    def list_apps(self, request: Request) -> Response:
        apps = self.service.db.list_apps()
        name = _filter(request, "name")
        if name is not None:
            apps = [a for a in apps if a.name == name]
        return Response.json(presenters.page(self._present(a) for a in apps))

    def create_app(self, request: Request) -> Response:
        app = self.service.create(request.json())
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

    def delete_route(self, request: Request) -> Response:
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


