"""``/internal/...``: what DEAs (bits, droplets) and the health manager (desired state) use.

Basic auth with the deployment's ``cc.internal_api`` credentials, never a user token: DEAs
get these URLs with the credentials embedded (README contract).
"""

from __future__ import annotations

from . import errors, presenters
from .app_service import AppService
from .auth import internal_allowed
from .blobs import Blobstore, BlobTooLarge
from .config import CcConfig
from .web import Handler, Request, Response, Router


class InternalApi:
    def __init__(self, config: CcConfig, service: AppService, blobs: Blobstore) -> None:
        self.config = config
        self.service = service
        self.blobs = blobs

    def register(self, router: Router) -> None:
        a = self._authed
        router.add("GET", "/internal/apps", a(self.apps))
        router.add("GET", "/internal/apps/<guid>/bits", a(self.bits))
        router.add("HEAD", "/internal/apps/<guid>/bits", a(self.bits))
        router.add("GET", "/internal/apps/<guid>/droplet", a(self.droplet))
        router.add("HEAD", "/internal/apps/<guid>/droplet", a(self.droplet))
        router.add("PUT", "/internal/apps/<guid>/droplet", a(self.upload_droplet))
        router.add("POST", "/internal/apps/<guid>/droplet", a(self.upload_droplet))

    def _authed(self, handler: Handler) -> Handler:
        def check(request: Request) -> Response:
            if not internal_allowed(request.header("Authorization"), self.config.internal_user,
                                    self.config.internal_password):
                e = errors.not_authorized_internal()
                e.headers["WWW-Authenticate"] = 'Basic realm="cloud_controller internal"'
                raise e
            return handler(request)
        return check

    def apps(self, request: Request) -> Response:
        return Response.json([presenters.internal_app(a) for a in self.service.db.list_apps()])

    def bits(self, request: Request) -> Response:
        guid = request.params["guid"]
        self.service.get(guid)
        path = self.blobs.bits_path(guid)
        if not path.exists():
            raise errors.app_package_not_found(guid)
        return Response(200, file=path, headers={"Content-Type": "application/zip"})

    def droplet(self, request: Request) -> Response:
        guid = request.params["guid"]
        self.service.get(guid)
        path = self.blobs.droplet_path(guid)
        if not path.exists():
            raise errors.droplet_not_found(guid)
        return Response(200, file=path, headers={"Content-Type": "application/gzip"})

    def upload_droplet(self, request: Request) -> Response:
        guid = request.params["guid"]
        self.service.get(guid)
        if request.content_length == 0:
            raise errors.invalid_request("the droplet is empty")
        try:
            tmp, sha1 = self.blobs.receive(request.body_stream, request.content_length,
                                           self.config.max_upload_mb * 1024 * 1024)
        except BlobTooLarge:
            raise errors.payload_too_large(self.config.max_upload_mb) from None
        except EOFError as e:
            raise errors.invalid_request(str(e)) from None
        request._body = b""
        self.service.accept_droplet(guid, tmp, sha1)
        return Response.json({"sha1": sha1}, 201)
