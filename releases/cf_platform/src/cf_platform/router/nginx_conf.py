"""Render the routes table as a complete nginx configuration (pure: text in, text out).

Why nginx: the first Cloud Foundry router was nginx driven by a small control program, and
on this machine nginx proxies several times more requests per second than a Python proxy.
The control plane only has to say which backends serve which host.

What the rendered configuration does, gorouter's behaviour in nginx terms:

- one ``upstream`` per route with its endpoints (nginx round robin, keepalive connections
  to the backends, one shared-memory zone for all of them);
- a host whose only route has no path (nearly every app route) is one line of a ``map``
  from ``$host`` to its upstream, served by the default server (``proxy_pass`` to the
  mapped upstream's name); a host with path routes gets its own ``server`` with one
  ``location`` per route path (``/api`` matches ``/api`` and ``/api/...``). Why: nginx
  parses a ``server`` block per host far more slowly than a map line, and every route
  change is a parse (``nginx -t``, then the reload): with 10,000 routes that made a new
  route routable after ~23 s, with the map a few seconds (bench/router.py). ``*.domain``
  wildcards work in both (the map's ``hostnames``: exact names first, then the longest
  wildcard, as server_name does);
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
    # after a reload (or QUIT) old workers finish their requests for at most this long
    w(f"worker_shutdown_timeout {_seconds(settings.worker_shutdown_timeout)};")
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
    if settings.request_metrics:
        # one short line per request for the control plane (request_metrics.py), buffered:
        # one write per 64 KiB; the control plane reads and empties the file
        w("  log_format cf_metrics escape=default '$status|$upstream_response_time|$cf_metrics_app';")
        w(f"  access_log {_q(metrics_log(settings))} cf_metrics buffer=64k flush=1s;")
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
    w("  map_hash_bucket_size 256;")
    w("  map_hash_max_size 1048576;")
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
    names = _upstream_names(routes)
    by_host = _by_host(routes)
    mapped = _mapped_hosts(by_host)
    _maps(w, {host: (names[key], routes[key]) for host, key in mapped.items()})
    if settings.request_metrics:
        _metrics_app_map(w, {names[key]: endpoints for key, endpoints in routes.items() if endpoints})
    listen_line = f"{_listen_address(listen.address)}:{listen.port}"
    # The default server owns the listen options (one socket, shared by every server) and
    # serves every mapped host; $cf_upstream is empty for a host with no route.
    options = " reuseport" if settings.reuseport else ""
    w("  server {")
    w(f"    listen {listen_line} default_server backlog=4096{options};")
    w("    server_name _;")
    w("    error_page 502 504 @cf_endpoint_failure;")
    w("    location / {")
    w("      if ($cf_upstream = \"\") {")
    w("        add_header X-Cf-RouterError unknown_route always;")
    w("        return 404 \"404 Not Found: Requested route ('$host') does not exist.\\n\";")
    w("      }")
    _proxy(w, "$cf_upstream", "$cf_app_id", "$cf_instance_id")
    w("    }")
    _endpoint_failure(w)
    w("  }")
    zone_size = _zone_size(routes)
    for key, endpoints in routes.items():
        if not endpoints:
            continue
        w(f"  upstream {names[key]} {{  # {key}")
        # shared state: one round-robin position for all workers, not one per worker (which
        # sends a client's successive new connections to the same backend again and again).
        # One zone for every upstream (its size said once): a zone per upstream made
        # `nginx -t` and each reload twice as slow with 10,000 routes (bench/router.py).
        w(f"    zone cf_routes{' ' + zone_size if zone_size else ''};")
        zone_size = ""
        for endpoint in endpoints:
            w(f"    server {endpoint.address} max_fails=1 fail_timeout=10s;")
        w(f"    keepalive {settings.backend_keepalive};")
        w(f"    keepalive_timeout {_seconds(settings.backend_idle_timeout)};")
        w("    keepalive_requests 100000;")
        w("  }")
    for host, keys in by_host.items():
        if host in mapped:
            continue
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
                _proxy(w, names[key], _q(_app_of(endpoints)), _q(_instance_of(endpoints)))
                w("    }")
        _endpoint_failure(w)
        w("  }")
    w("}")
    return "\n".join(out) + "\n"


def _mapped_hosts(by_host: dict[str, list[RouteKey]]) -> dict[str, RouteKey]:
    """The hosts served through the map: those whose only route has no path, except under a
    wildcard that has path routes (its ``server`` would catch them: nginx picks a server by
    name before any map is read)."""
    path_wildcards = [host[1:] for host, keys in by_host.items()
                      if host.startswith("*.") and keys != [RouteKey(host)]]
    return {host: keys[0] for host, keys in by_host.items()
            if keys == [RouteKey(host)] and not any(host.endswith(domain) for domain in path_wildcards)}


def _maps(w, mapped: dict[str, tuple[str, list[Endpoint]]]) -> None:
    """host → upstream name, and upstream name → the route's X-CF-* values (empty: removed)."""
    w("  map $host $cf_upstream {")
    w("    hostnames;")
    w("    default \"\";")
    for host, (name, _) in sorted(mapped.items()):
        w(f"    {host} {name};")
    w("  }")
    for variable, value_of in (("$cf_app_id", _app_of), ("$cf_instance_id", _instance_of)):
        w(f"  map $cf_upstream {variable} {{")
        w("    default \"\";")
        for name, endpoints in sorted(mapped.values(), key=lambda item: item[0]):
            value = value_of(endpoints)
            if value:
                w(f"    {name} {_q(value)};")
        w("  }")


def metrics_log(settings: NginxSettings) -> str:
    """Where nginx's workers append one metric line per request (the control plane reads it)."""
    return settings.run_dir + "/metrics.log"


def _metrics_app_map(w, upstreams: dict[str, list[Endpoint]]) -> None:
    """upstream name (``$proxy_host`` at log time) -> the route's app, for request metrics:
    the app comes from this rendering, so a log line is always attributed by the
    configuration of the worker that served it."""
    w("  map $proxy_host $cf_metrics_app {")
    w("    default \"\";")
    for name, endpoints in sorted(upstreams.items()):
        app = _app_of(endpoints)
        if app:
            w(f"    {name} {_q(app)};")
    w("  }")


def _endpoint_failure(w) -> None:
    w("    location @cf_endpoint_failure {")
    w("      add_header X-Cf-RouterError endpoint_failure always;")
    w("      return 502 \"502 Bad Gateway: Registered endpoint failed to handle the request.\\n\";")
    w("    }")


def _app_of(endpoints: list[Endpoint]) -> str:
    """The app when every endpoint belongs to one (and its id is safe to render), else ""."""
    apps = {e.app for e in endpoints}
    app = next(iter(apps)) if len(apps) == 1 else ""
    return app if _SAFE_VALUE_RE.fullmatch(app) else ""


def _instance_of(endpoints: list[Endpoint]) -> str:
    instance = endpoints[0].private_instance_id if len(endpoints) == 1 else ""
    return instance if _SAFE_VALUE_RE.fullmatch(instance) else ""


def _proxy(w, upstream: str, app: str, instance: str) -> None:
    """The proxy directives of one location (proxy_set_header in a location replaces every
    inherited one, so all are repeated here). ``app``/``instance`` are rendered values (a
    quoted string or a map's variable; empty removes a client's own header)."""
    w("      proxy_set_header Host $http_host;")
    w("      proxy_set_header Connection $cf_connection;")
    w("      proxy_set_header Upgrade $http_upgrade;")
    w("      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
    w("      proxy_set_header X-Forwarded-Proto $cf_forwarded_proto;")
    w("      proxy_set_header X-Vcap-Request-Id $cf_request_id;")
    w("      proxy_set_header X-Request-Start $cf_request_start;")
    # an empty value removes the header: a client's own X-CF-* never reaches the app
    w(f"      proxy_set_header X-CF-ApplicationID {app};")
    w(f"      proxy_set_header X-CF-InstanceID {instance};")
    w(f"      proxy_pass http://{upstream};")


def _zone_size(routes: dict[RouteKey, list[Endpoint]]) -> str:
    """Room for every upstream (about 1 KiB each plus its servers), rounded up to a power of
    two so the size, and so the shared zone, stays the same across most reloads."""
    need = 1024 * 1024 + sum(4096 + 1024 * len(endpoints) for endpoints in routes.values())
    size = 1024 * 1024
    while size < need:
        size *= 2
    return f"{size // 1024}k"


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
