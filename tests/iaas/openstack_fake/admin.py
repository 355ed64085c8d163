"""The emulator's test-only admin API under ``/__fake/`` (no OpenStack service has these paths), and
the small client tests use to call it.

Every admin request needs ``X-Fake-Admin-Token: <Cloud.admin_token>``, a random value the test that
started the emulator holds, so nothing else on the host's loopback can arm faults or read the request
log (which holds paths, never bodies or tokens).

    POST   /__fake/faults    arm a request fault (faults.request_fault_from)        → 201
    POST   /__fake/boots     arm a server boot outcome (faults.boot_outcome_from)   → 201
    GET    /__fake/requests  every API request so far: [{service, method, path, status}]
    DELETE /__fake/faults    disarm everything and clear the request log           → 204
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.request
from typing import Any

from aiohttp import web

from .cloud import Cloud
from .faults import FaultSpecError, boot_outcome_from, request_fault_from

PREFIX = "/__fake/"
TOKEN_HEADER = "X-Fake-Admin-Token"


def routes(cloud: Cloud) -> list[web.RouteDef]:
    async def spec_of(request: web.Request) -> object:
        try:
            return json.loads(await request.text() or "null")
        except json.JSONDecodeError as error:
            raise web.HTTPBadRequest(text=f"admin request body is not JSON: {error}") from None

    async def arm_fault(request: web.Request) -> web.Response:
        try:
            cloud.faults.request_faults.append(request_fault_from(await spec_of(request)))
        except FaultSpecError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response({"armed": len(cloud.faults.request_faults)}, status=201)

    async def arm_boot(request: web.Request) -> web.Response:
        try:
            cloud.faults.boot_outcomes.append(boot_outcome_from(await spec_of(request)))
        except FaultSpecError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response({"armed": len(cloud.faults.boot_outcomes)}, status=201)

    async def requests_seen(request: web.Request) -> web.Response:
        return web.json_response({"requests": cloud.faults.seen})

    async def disarm(request: web.Request) -> web.Response:
        cloud.faults.clear()
        return web.Response(status=204)

    return [web.post(f"{PREFIX}faults", arm_fault), web.post(f"{PREFIX}boots", arm_boot),
            web.get(f"{PREFIX}requests", requests_seen), web.delete(f"{PREFIX}faults", disarm)]


def is_admin_path(path: str) -> bool:
    return path.startswith(PREFIX)


def is_admin(cloud: Cloud, request: web.Request) -> bool:
    return secrets.compare_digest(request.headers.get(TOKEN_HEADER, "").encode(), cloud.admin_token.encode())


class FakeAdmin:
    """The test's handle on the admin API, over real HTTP like every other client of the emulator."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{PREFIX}{path}", data=data, method=method,
                                         headers={TOKEN_HEADER: self._token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def inject(self, **fault: Any) -> None:
        """Arm a request fault: ``service``, ``method``, ``path_regex``, ``status``, ``times``,
        ``after``, ``message`` or ``body``, or ``expire_tokens=True``."""
        self._call("POST", "faults", fault)

    def boot(self, **outcome: Any) -> None:
        """Arm what the next servers do after Nova accepts them: ``status`` (ERROR/ACTIVE),
        ``times``, ``build_polls``, ``fault={"message", "code"}``, ``leak_ports``."""
        self._call("POST", "boots", outcome)

    def requests(self, service: str | None = None, method: str | None = None,
                 path_regex: str | None = None) -> list[dict[str, Any]]:
        """The API requests the emulator has seen, optionally only those matching."""
        seen: list[dict[str, Any]] = self._call("GET", "requests")["requests"]
        return [r for r in seen if (service is None or r["service"] == service)
                and (method is None or r["method"] == method)
                and (path_regex is None or re.search(path_regex, r["path"]))]

    def reset(self) -> None:
        self._call("DELETE", "faults")
