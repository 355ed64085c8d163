"""The aiohttp application (token check, error bodies, every service's routes) and a runner that
serves it on 127.0.0.1 from a background thread, for a test's lifetime."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import admin, cinder, glance, keystone, neutron, nova
from .admin import FakeAdmin
from .cloud import Cloud
from .errors import ApiError, error_body
from .faults import service_named_by

SERVICE_OF_PREFIX = {"/identity/": "keystone", "/network/": "neutron", "/compute/": "compute",
                     "/image/": "image", "/volume/": "volume"}
AUTH_FREE_PATHS = {"/identity/v3/auth/tokens"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def service_of(path: str) -> str:
    return next((service for prefix, service in SERVICE_OF_PREFIX.items() if path.startswith(prefix)), "compute")


def build_app(cloud: Cloud, base_url: str) -> web.Application:
    @web.middleware
    async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The test-only ``/__fake/`` paths need the admin token; they are neither faulted nor logged."""
        if not admin.is_admin_path(request.path):
            return await handler(request)
        if not admin.is_admin(cloud, request):
            return web.json_response({"error": "the emulator's admin API needs its admin token"}, status=403)
        return await handler(request)

    @web.middleware
    async def openstack_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply an armed fault, require a token Keystone issued, turn errors into the service's own
        error body, and log the request with the status it got."""
        if admin.is_admin_path(request.path):
            return await handler(request)
        response = await answer(request, handler)
        cloud.faults.record(service_named_by(request.path), request.method, request.path, response.status)
        return response

    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        service = service_of(request.path)
        try:
            fault = cloud.faults.take_request_fault(service_named_by(request.path), request.method, request.path)
            if fault is not None and fault.expire_tokens:
                cloud.tokens.clear()
            elif fault is not None:
                body = fault.body or error_body(service, ApiError(fault.status, fault.message))
                return web.json_response(body, status=fault.status)
            if request.path not in AUTH_FREE_PATHS and request.headers.get("X-Auth-Token") not in cloud.tokens:
                raise ApiError(401, "The request you have made requires authentication.")
            return await handler(request)
        except ApiError as error:
            return web.json_response(error_body(service, error), status=error.status)
        except web.HTTPNotFound:
            return web.json_response(error_body(service, ApiError(404, f"No route for {request.path}")), status=404)
        except web.HTTPMethodNotAllowed:
            return web.json_response(error_body(service, ApiError(405, f"{request.method} not allowed on "
                                                                       f"{request.path}")), status=405)

    app = web.Application(middlewares=[admin_only, openstack_errors])
    app.add_routes(keystone.routes(cloud, base_url) + nova.routes(cloud, base_url) + glance.routes(cloud)
                   + neutron.routes(cloud) + cinder.routes(cloud) + admin.routes(cloud))
    return app


class OpenStackFake:
    """Serves a seeded ``Cloud`` on 127.0.0.1 at a free port until ``stop``. The state belongs to the
    server's thread; read it through the API (libcloud), not from another thread."""

    def __init__(self, cloud: Cloud | None = None) -> None:
        self.cloud = cloud or Cloud()
        if cloud is None:
            self.cloud.seed()
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="openstack-fake", daemon=True)
        self._ready = threading.Event()
        self._failure: Exception | None = None

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity"

    @property
    def admin(self) -> FakeAdmin:
        """The test-only admin API (fault injection, request log); see admin.py."""
        return FakeAdmin(self.base_url, self.cloud.admin_token)

    def start(self) -> OpenStackFake:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("OpenStack fake did not start listening on 127.0.0.1 within 30 s")
        if self._failure is not None:
            raise RuntimeError(f"OpenStack fake failed to start: {self._failure}") from self._failure
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner: web.AppRunner | None = None
        try:
            # Bind first: the catalog's URLs need the port, and the app needs the catalog.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            runner = web.AppRunner(build_app(self.cloud, self.base_url))
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.SockSite(runner, sock).start())
        except Exception as error:  # noqa: BLE001 - any start-up failure must reach start() in the test's thread
            self._failure = error
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()
