"""Render the routes table as a complete nginx configuration (pure: text in, text out).

Why nginx: the first Cloud Foundry router was nginx driven by a small control program, and
on this machine nginx proxies several times more requests per second than a Python proxy.
The control plane only has to say which backends serve which host.

What the rendered configuration does, gorouter's behaviour in nginx terms:

- one ``upstream`` per route with its endpoints (nginx round robin, keepalive connections
  to the backends), one ``server`` per route host (``*.domain`` wildcards are nginx's own),
  one ``location`` per route path (``/api`` matches ``/api`` and ``/api/...``);
- a connection failure or connect timeout moves the request to another endpoint
  (``proxy_next_upstream error timeout``; nginx never re-sends a POST that reached a
  backend), up to ``max_retries`` endpoints; when none answers: 502 with
  ``X-Cf-RouterError: endpoint_failure``;
- an unknown host: 404 with ``X-Cf-RouterError: unknown_route`` (gorouter's body text);
- request headers as gorouter sets them: ``X-Vcap-Request-Id`` always a fresh UUID (a
  client's own value is replaced, handlers/request_id.go), ``X-Forwarded-Proto`` the scheme
  of the client's connection (gorouter's ``sanitize_forwarded_proto``; the client's value is
  kept only with ``trust_forwarded_proto``, for a proxy in front that sets it),
  ``X-Forwarded-For`` (the client's list plus its address), ``X-Request-Start`` (ms since
  the epoch), ``X-CF-ApplicationID`` when every endpoint of the route belongs to one app, and
  ``X-CF-InstanceID`` when the route has a single endpoint (nginx builds the request before
  it picks the backend, so per-endpoint values cannot be set otherwise); when they cannot be
  set, a client's ``X-CF-*`` headers are removed, never passed on as the router's word;
- websockets: ``Upgrade``/``Connection`` pass through.

Every value that comes from a NATS message was validated by the registry (hosts, paths,
ports) or is quoted here (app ids), so a message cannot inject nginx directives.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from cf_platform.router.config import NginxSettings
from cf_platform.router.registry import Endpoint, RouteKey

_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")


@dataclass(frozen=True)
class Listen:
    address: str
    port: int


def render(routes: dict[RouteKey, list[Endpoint]], listen: Listen, settings: NginxSettings,
           run_as_root: bool | None = None, trust_forwarded_proto: bool = False) -> str:
    """The whole nginx.conf for ``routes`` (as RouteRegistry.routes() returns them)."""
    if run_as_root is None:
        run_as_root = os.geteuid() == 0
    out: list[str] = []
    w = out.append
    run, logs = settings.run_dir, settings.log_dir
    w("# Rendered by cf_platform.router from its routes table; rewritten on every change.")
    w("daemon off;")
    w("master_process on;")
    w(f"worker_processes {_worker_processes(settings.worker_processes)};")
    w(f"worker_rlimit_nofile {settings.worker_connections * 2 + 1024};")
    w("worker_shutdown_timeout 30s;")
    w(f"pid {_q(run + '/nginx.pid')};")
    w(f"error_log {_q(logs + '/nginx.error.log')} warn;")
    if run_as_root:
        w(f"user {settings.user or 'nobody nogroup'};")
    w("events {")
    w(f"  worker_connections {settings.worker_connections};")
    w("}")
    w("http {")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        w(f"  {kind}_temp_path {_q(run + '/' + kind + '_temp')};")
    if settings.access_log:
        w("  log_format cf_router '$host - [$time_local] \"$request\" $status $body_bytes_sent "
          "\"$http_referer\" \"$http_user_agent\" \"$remote_addr\" \"$upstream_addr\" "
          "x_forwarded_for:\"$http_x_forwarded_for\" vcap_request_id:\"$cf_request_id\" "
          "response_time:$request_time';")
        w(f"  access_log {_q(logs + '/access.log')} cf_router buffer=64k flush=1s;")
    else:
        w("  access_log off;")
    w("  server_tokens off;")
    w("  default_type application/octet-stream;")
    w("  keepalive_timeout 75s;")
    w("  keepalive_requests 100000;")
    w("  client_max_body_size 0;")
    w("  proxy_request_buffering off;")
    w("  proxy_http_version 1.1;")
    w(f"  proxy_connect_timeout {_seconds(settings.connect_timeout)};")
    w(f"  proxy_send_timeout {_seconds(settings.request_timeout)};")
    w(f"  proxy_read_timeout {_seconds(settings.request_timeout)};")
    w("  proxy_next_upstream error timeout;")
    w(f"  proxy_next_upstream_tries {max(1, settings.max_retries)};")
    w("  server_names_hash_bucket_size 256;")
    w("  server_names_hash_max_size 65536;")
    w("  map $http_upgrade $cf_connection { default upgrade; \"\" \"\"; }")
    # $request_id (32 random hex digits) in the UUID form gorouter sends
    w("  map $request_id $cf_request_id {")
    w("    \"~^(?<cf_id1>[0-9a-f]{8})(?<cf_id2>[0-9a-f]{4})(?<cf_id3>[0-9a-f]{4})(?<cf_id4>[0-9a-f]{4})"
      "(?<cf_id5>[0-9a-f]{12})$\" \"$cf_id1-$cf_id2-$cf_id3-$cf_id4-$cf_id5\";")
    w("    default $request_id;")
    w("  }")
    if trust_forwarded_proto:
        w("  map $http_x_forwarded_proto $cf_forwarded_proto { \"\" $scheme; default $http_x_forwarded_proto; }")
    else:
        w("  map $scheme $cf_forwarded_proto { default $scheme; }")
    w("  map $msec $cf_request_start { \"~^(?<cf_sec>[0-9]+)\\.(?<cf_ms>[0-9]+)$\" $cf_sec$cf_ms; }")
    listen_line = f"{_listen_address(listen.address)}:{listen.port}"
    # The default server owns the listen options (one socket, shared by every server).
    options = " reuseport" if settings.reuseport else ""
    w("  server {")
    w(f"    listen {listen_line} default_server backlog=4096{options};")
    w("    server_name _;")
    w("    location / {")
    w("      add_header X-Cf-RouterError unknown_route always;")
    w("      return 404 \"404 Not Found: Requested route ('$host') does not exist.\\n\";")
    w("    }")
    w("  }")
    names = _upstream_names(routes)
    for key, endpoints in routes.items():
        if not endpoints:
            continue
        w(f"  upstream {names[key]} {{  # {key}")
        # shared state: one round-robin position for all workers, not one per worker (which
        # sends a client's successive new connections to the same backend again and again)
        w(f"    zone {names[key]} 64k;")
        for endpoint in endpoints:
            w(f"    server {endpoint.address} max_fails=1 fail_timeout=10s;")
        w(f"    keepalive {settings.backend_keepalive};")
        w(f"    keepalive_timeout {_seconds(settings.backend_idle_timeout)};")
        w("    keepalive_requests 100000;")
        w("  }")
    for host, keys in _by_host(routes).items():
        w("  server {")
        w(f"    listen {listen_line};")
        w(f"    server_name {host};")
        w("    error_page 502 504 @cf_endpoint_failure;")
        if not any(key.path == "" for key in keys):
            w("    location / {")
            w("      add_header X-Cf-RouterError unknown_route always;")
            w("      return 404 \"404 Not Found: Requested route ('$host$uri') does not exist.\\n\";")
            w("    }")
        for key in keys:
            endpoints = routes[key]
            blocks = [f"location {_q(key.path + '/')}", f"location = {_q(key.path)}"] \
                if key.path else ["location /"]
            for block in blocks:
                w(f"    {block} {{")
                _proxy(w, names[key], endpoints)
                w("    }")
        w("    location @cf_endpoint_failure {")
        w("      add_header X-Cf-RouterError endpoint_failure always;")
        w("      return 502 \"502 Bad Gateway: Registered endpoint failed to handle the request.\\n\";")
        w("    }")
        w("  }")
    w("}")
    return "\n".join(out) + "\n"


def _proxy(w, upstream: str, endpoints: list[Endpoint]) -> None:
    """The proxy directives of one location (proxy_set_header in a location replaces every
    inherited one, so all are repeated here)."""
    w("      proxy_set_header Host $http_host;")
    w("      proxy_set_header Connection $cf_connection;")
    w("      proxy_set_header Upgrade $http_upgrade;")
    w("      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    w("      proxy_set_header X-Forwarded-Proto $cf_forwarded_proto;")
    w("      proxy_set_header X-Vcap-Request-Id $cf_request_id;")
    w("      proxy_set_header X-Request-Start $cf_request_start;")
    apps = {e.app for e in endpoints}
    # an empty value removes the header: a client's own X-CF-* never reaches the app
    app = next(iter(apps)) if len(apps) == 1 else ""
    w(f"      proxy_set_header X-CF-ApplicationID {_q(app if _SAFE_VALUE_RE.fullmatch(app) else '')};")
    instance = endpoints[0].private_instance_id if len(endpoints) == 1 else ""
    w(f"      proxy_set_header X-CF-InstanceID {_q(instance if _SAFE_VALUE_RE.fullmatch(instance) else '')};")
    w(f"      proxy_pass http://{upstream};")


def _upstream_names(routes: dict[RouteKey, list[Endpoint]]) -> dict[RouteKey, str]:
    """Stable names (sorted order), so an unchanged table renders byte-identical text."""
    return {key: f"cf_route_{i}" for i, key in enumerate(sorted(routes))}


def _by_host(routes: dict[RouteKey, list[Endpoint]]) -> dict[str, list[RouteKey]]:
    hosts: dict[str, list[RouteKey]] = {}
    for key in sorted(routes):
        if routes[key]:
            hosts.setdefault(key.host, []).append(key)
    return hosts


def _q(text: str) -> str:
    """An nginx string literal; the renderer only quotes validated or safe text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _seconds(value: float) -> str:
    return f"{int(value * 1000)}ms"


def _worker_processes(value: str | int) -> str:
    text = str(value)
    if text != "auto" and not text.isdigit():
        raise ValueError(f"worker_processes must be 'auto' or a number, not {value!r}")
    return text


def _listen_address(address: str) -> str:
    return f"[{address}]" if ":" in address else address
