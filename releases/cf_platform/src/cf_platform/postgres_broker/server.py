"""The broker's HTTP side: OSB v2 routes, basic auth, ``X-Broker-Api-Version`` 2.x.

Provisioning with ``accepts_incomplete=true`` runs in a thread and answers 202; the
platform then polls ``last_operation``. Everything else is synchronous. Answers never carry
the admin password; a binding's password goes only to the platform that asked for it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .config import BrokerConfig, ConfigError, load_config
from .databases import Databases, Exists, InvalidId, Missing
from .privileges import become
from .psql import Psql, PsqlError

log = logging.getLogger("postgres_broker")
MAX_BODY = 64 * 1024


class BrokerError(Exception):
    def __init__(self, status: int, description: str, error: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.body: dict[str, Any] = {"description": description}
        if error:
            self.body["error"] = error


class Operations:
    """In-memory state of async provisions: instance id -> (state, description)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, tuple[str, str]] = {}

    def set(self, instance_id: str, state: str, description: str = "") -> None:
        with self._lock:
            self._ops[instance_id] = (state, description)

    def get(self, instance_id: str) -> tuple[str, str] | None:
        with self._lock:
            return self._ops.get(instance_id)


class Broker:
    """The OSB operations, independent of HTTP."""

    def __init__(self, config: BrokerConfig, databases: Databases) -> None:
        self.config = config
        self.databases = databases
        self.operations = Operations()

    def catalog(self) -> dict:
        c = self.config
        return {"services": [{
            "id": c.service_id, "name": c.service_name, "description": "PostgreSQL databases",
            "bindable": True, "tags": ["postgresql", "relational"], "plan_updateable": False,
            "plans": [{"id": c.plan_id, "name": c.plan_name, "free": True,
                       "description": "A database of its own, a role with its own password per binding"}]}]}

    def _check_ids(self, body_or_query: dict) -> None:
        if body_or_query.get("service_id") != self.config.service_id:
            raise BrokerError(400, "service_id is not this broker's service")
        if body_or_query.get("plan_id") != self.config.plan_id:
            raise BrokerError(400, "plan_id is not a plan of this broker")

    def provision(self, instance_id: str, body: dict, accepts_incomplete: bool) -> tuple[int, dict]:
        self._check_ids(body)
        if self.databases.exists(instance_id):
            raise BrokerError(409, f"service instance {instance_id} exists already")
        if not accepts_incomplete:
            self.databases.create(instance_id)
            log.info("provisioned %s", instance_id)
            return 201, {}
        self.operations.set(instance_id, "in progress")
        threading.Thread(target=self._provision_async, args=(instance_id,), daemon=True).start()
        return 202, {"operation": "provision"}

    def _provision_async(self, instance_id: str) -> None:
        try:
            self.databases.create(instance_id)
        except (PsqlError, Exists) as e:
            log.warning("provisioning %s failed: %s", instance_id, e)
            self.operations.set(instance_id, "failed", f"creating the database failed: {e}")
            return
        log.info("provisioned %s", instance_id)
        self.operations.set(instance_id, "succeeded", "the database is ready")

    def last_operation(self, instance_id: str) -> tuple[int, dict]:
        op = self.operations.get(instance_id)
        if op is None:
            if self.databases.exists(instance_id):
                return 200, {"state": "succeeded"}
            return 410, {}
        return 200, {"state": op[0], "description": op[1]}

    def deprovision(self, instance_id: str, query: dict) -> tuple[int, dict]:
        self._check_ids(query)
        try:
            self.databases.drop(instance_id)
        except Missing:
            return 410, {}
        log.info("deprovisioned %s", instance_id)
        return 200, {}

    def bind(self, instance_id: str, binding_id: str, body: dict) -> tuple[int, dict]:
        self._check_ids(body)
        try:
            credentials = self.databases.bind(instance_id, binding_id)
        except Missing:
            raise BrokerError(404, f"service instance {instance_id} does not exist") from None
        except Exists:
            raise BrokerError(409, f"binding {binding_id} exists already") from None
        log.info("bound %s to %s", binding_id, instance_id)
        return 201, {"credentials": credentials.as_dict()}

    def unbind(self, instance_id: str, binding_id: str, query: dict) -> tuple[int, dict]:
        self._check_ids(query)
        try:
            self.databases.unbind(instance_id, binding_id)
        except Missing:
            return 410, {}
        log.info("unbound %s from %s", binding_id, instance_id)
        return 200, {}


def _route(broker: Broker, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
    parts = path.strip("/").split("/")
    incomplete = query.get("accepts_incomplete") == "true"
    if parts == ["v2", "catalog"] and method == "GET":
        return 200, broker.catalog()
    if len(parts) >= 3 and parts[:2] == ["v2", "service_instances"]:
        instance_id = parts[2]
        if len(parts) == 3 and method == "PUT":
            return broker.provision(instance_id, body, incomplete)
        if len(parts) == 3 and method == "DELETE":
            return broker.deprovision(instance_id, query)
        if parts[3:] == ["last_operation"] and method == "GET":
            return broker.last_operation(instance_id)
        if len(parts) == 5 and parts[3] == "service_bindings":
            if method == "PUT":
                return broker.bind(instance_id, parts[4], body)
            if method == "DELETE":
                return broker.unbind(instance_id, parts[4], query)
    raise BrokerError(404, f"no route {method} {path}")


def make_server(config: BrokerConfig, broker: Broker) -> ThreadingHTTPServer:
    expected = f"{config.username}:{config.password}".encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "cf-py-postgres-broker"
        timeout = 60

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

        def _authorized(self) -> bool:
            scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
            try:
                given = base64.b64decode(value.strip(), validate=True) if scheme.lower() == "basic" else b""
            except (ValueError, binascii.Error):
                given = b""
            return hmac.compare_digest(given, expected)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length < 0 or length > MAX_BODY:
                    raise BrokerError(413 if length > 0 else 400, f"the body must be at most {MAX_BODY} bytes")
                raw = self.rfile.read(length) if length else b""
                if not self._authorized():
                    raise BrokerError(401, "basic auth with the broker's credentials is required")
                version = self.headers.get("X-Broker-Api-Version") or ""
                if not version.startswith("2."):
                    raise BrokerError(412, f"X-Broker-Api-Version must be 2.x (got {version or 'none'})")
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise BrokerError(400, "the body is not JSON") from None
                if not isinstance(body, dict):
                    raise BrokerError(400, "the body must be a JSON object")
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, answer = _route(broker, self.command, url.path, query, body)
            except BrokerError as e:
                status, answer = e.status, e.body
            except InvalidId as e:
                status, answer = 400, {"description": str(e)}
            except PsqlError as e:
                log.error("%s %s: PostgreSQL: %s", self.command, url.path, e)
                status, answer = 500, {"description": f"PostgreSQL: {e}"}
            except (ValueError, OSError) as e:
                status, answer = 400, {"description": f"bad request: {e}"}
            except Exception:
                log.exception("%s %s failed", self.command, url.path)
                status, answer = 500, {"description": "internal error"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            log.info("%s %s -> %d", self.command, url.path, status)

        do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _handle

    server = ThreadingHTTPServer((config.bind, config.port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="postgres_broker", description=__doc__)
    parser.add_argument("--config", required=True, help="JSON config file (rendered by the job)")
    parser.add_argument("--user", help="run as this user once the config is read (root only)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"postgres_broker: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    broker = Broker(config, Databases(Psql(config.postgres), config.credentials_host, config.postgres.port))
    try:
        server = make_server(config, broker)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", config.bind, config.port, e)
        return 1
    try:   # listening and the config read: nothing more needs root
        if args.user:
            become(args.user)
    except (ValueError, OSError) as e:
        server.server_close()
        print(f"postgres_broker: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="broker-http", daemon=True)
    thread.start()
    log.info("postgres broker listening on %s:%d (PostgreSQL at %s:%d)", config.bind, config.port,
             config.postgres.host, config.postgres.port)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0
