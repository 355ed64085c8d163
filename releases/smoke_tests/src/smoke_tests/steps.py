"""The smoke test, step by step, as cf-smoke-tests does it: log in, push an app, route it,
start it, reach it through every router by its route, delete it. Each step prints what it
does; the first failure names its step and the run exits non-zero. The app is deleted
whatever happened after it was created."""

from __future__ import annotations

import http.client
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from cf_platform.client.errors import CfError
from cf_platform.client.zipper import zip_directory

from smoke_tests.cc_api import CcApi

POLL = 1.0


class StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"smoke_tests FAILED at step '{step}': {message}")
        self.step = step


@dataclass
class Config:
    api: str
    routers: list[str]  # host:port of every router
    user: str
    password: str
    app_name_prefix: str = "smoke-test"
    timeout: float = 180.0
    route_timeout: float = 60.0

    @classmethod
    def from_json(cls, data: dict) -> "Config":
        missing = [key for key in ("api", "routers", "user", "password") if not data.get(key)]
        if missing:
            raise StepFailed("config", f"missing {', '.join(missing)} (the job's properties and links)")
        return cls(str(data["api"]), [str(r) for r in data["routers"]], str(data["user"]), str(data["password"]),
                   str(data.get("app_name_prefix") or "smoke-test"), float(data.get("timeout") or 180),
                   float(data.get("route_timeout") or 60))


@dataclass
class Run:
    config: Config
    out: TextIO
    cc: CcApi = field(init=False)
    name: str = field(init=False)
    marker: str = field(init=False)
    guid: str | None = None
    route_guid: str | None = None

    def __post_init__(self) -> None:
        self.cc = CcApi(self.config.api)
        suffix = secrets.token_hex(4)
        self.name = f"{self.config.app_name_prefix}-{suffix}"
        self.marker = f"smoke test page {secrets.token_hex(8)}"

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, name: str, action: Callable[[], object]) -> object:
        self.say(f"--- {name}")
        try:
            return action()
        except StepFailed:
            raise
        except (CfError, OSError, KeyError, ValueError, http.client.HTTPException) as error:
            raise StepFailed(name, str(error) or type(error).__name__) from None


def _wait(step: str, timeout: float, check: Callable[[], str | None], sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> None:
    """Until ``check`` answers None; its last answer says why it is not done yet."""
    deadline = clock() + timeout
    while True:
        why = check()
        if why is None:
            return
        if clock() > deadline:
            raise StepFailed(step, f"not done after {timeout:g}s: {why}")
        sleep(POLL)


def fetch_through_router(router: str, host: str, timeout: float = 10.0) -> tuple[int, str]:
    """GET / from ``router`` (host:port) with the app's route as Host, as a browser would
    after DNS sent it there."""
    address, _, port = router.rpartition(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def run(config: Config, out: TextIO) -> None:
    """Raises StepFailed at the first failing step (after deleting the app)."""
    smoke = Run(config, out)
    smoke.step("log in", lambda: smoke.cc.login(config.user, config.password))
    domain = smoke.step("find the shared domain", lambda: _shared_domain(smoke))
    host = f"{smoke.name}.{domain['entity']['name']}"
    failure: StepFailed | None = None
    try:
        app = smoke.step(f"create app {smoke.name}", lambda: smoke.cc.json(
            "POST", "/v2/apps", {"name": smoke.name, "state": "STOPPED", "instances": 1, "memory": 128}))
        smoke.guid = app["metadata"]["guid"]  # type: ignore[index]
        route = smoke.step(f"create route {host}", lambda: smoke.cc.json(
            "POST", "/v2/routes", {"host": smoke.name, "domain_guid": domain["metadata"]["guid"]}))
        smoke.route_guid = route["metadata"]["guid"]  # type: ignore[index]
        smoke.step("bind the route", lambda: smoke.cc.json("PUT", f"/v2/apps/{smoke.guid}/routes/{smoke.route_guid}"))
        smoke.step("upload the app's bits", lambda: _upload(smoke))
        smoke.step("start the app", lambda: smoke.cc.json("PUT", f"/v2/apps/{smoke.guid}", {"state": "STARTED"}))
        _wait("stage the app", config.timeout, lambda: _staged(smoke))
        _wait("run the app", config.timeout, lambda: _running(smoke))
        for router in config.routers:
            smoke.say(f"--- reach {host} through the router at {router}")
            _wait(f"reach the app through the router at {router}", config.route_timeout,
                  lambda router=router: _reached(smoke, router, host))
        smoke.say(f"the app answered through {len(config.routers)} router(s)")
    except StepFailed as error:
        failure = error
    finally:
        try:
            _delete(smoke)
        except StepFailed as error:
            failure = failure or error
    if failure is not None:
        raise failure


def _shared_domain(smoke: Run) -> dict:
    domains = smoke.cc.json("GET", "/v2/shared_domains")["resources"]
    if not domains:
        raise CfError("the cloud controller has no shared domain")
    return domains[0]


def _upload(smoke: Run) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "index.html").write_text(f"<html><body>{smoke.marker}</body></html>\n")
        bits, _ = zip_directory(Path(tmp))
    smoke.cc.upload_bits(str(smoke.guid), bits)


def _staged(smoke: Run) -> str | None:
    try:
        state = smoke.cc.json("GET", f"/v2/apps/{smoke.guid}")["entity"]["package_state"]
    except CfError as error:
        return str(error)
    if state == "FAILED":
        log = smoke.cc.json("GET", f"/v2/apps/{smoke.guid}/staging_log")
        raise StepFailed("stage the app", f"staging failed: {log.get('staging_failed_description') or 'unknown'}")
    return None if state == "STAGED" else f"package state {state}"


def _running(smoke: Run) -> str | None:
    try:
        instances = smoke.cc.json("GET", f"/v2/apps/{smoke.guid}/instances")
    except CfError as error:
        return str(error)
    states = [v.get("state") for v in instances.values()]
    return None if states and all(s == "RUNNING" for s in states) else f"instances {states or 'none yet'}"


def _reached(smoke: Run, router: str, host: str) -> str | None:
    try:
        status, body = fetch_through_router(router, host)
    except OSError as error:
        return f"cannot connect to the router at {router}: {error}"
    if status != 200:
        return f"the router at {router} answered {status} for {host}"
    if smoke.marker not in body:
        return f"the router at {router} answered 200 for {host}, but not with the pushed page"
    return None


def _delete(smoke: Run) -> None:
    if smoke.guid is not None:
        smoke.step(f"delete app {smoke.name}", lambda: smoke.cc.json("DELETE", f"/v2/apps/{smoke.guid}"))
    if smoke.route_guid is not None:
        try:
            smoke.cc.json("DELETE", f"/v2/routes/{smoke.route_guid}")
        except CfError as error:  # the CC may delete an app's routes with it
            smoke.say(f"(route left to the cloud controller: {error})")
