"""The pure parts of the metrics: the Prometheus text writer (read back by prometheus_client's
parser), nginx's metric lines, the status settings, the rendered nginx lines, and the
status server's bounds (in-process, on loopback)."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest
from cf_platform.component import (
    Component,
    ComponentConfigError,
    StatusServer,
    StatusSettings,
    component_pages,
    parse_status_settings,
)
from cf_platform.router.config import NginxSettings
from cf_platform.router.nginx_conf import Listen, render
from cf_platform.router.prometheus_text import MetricsText
from cf_platform.router.registry import Endpoint, RouteKey
from cf_platform.router.request_metrics import (
    OTHER_APP,
    MetricsLog,
    RequestMetrics,
    upstream_seconds,
)
from prometheus_client.parser import text_string_to_metric_families


def test_the_text_writer_is_read_back_by_the_prometheus_parser():
    out = MetricsText()
    out.family("x_requests_total", "counter", "Requests.\nSecond line with a \\ backslash.")
    out.sample("x_requests_total", 3, {"app": 'we"ird\\app\nname', "status": "2xx"})
    out.family("x_latency_seconds", "histogram", "Latency.")
    out.histogram("x_latency_seconds", [0.1, 1.0], [2, 1, 4], 12.5)
    families = {f.name: f for f in text_string_to_metric_families(out.text())}
    (sample,) = families["x_requests"].samples
    assert sample.labels == {"app": 'we"ird\\app\nname', "status": "2xx"} and sample.value == 3
    buckets = {s.labels.get("le"): s.value for s in families["x_latency_seconds"].samples
               if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 7}
    values = {s.name: s.value for s in families["x_latency_seconds"].samples if "le" not in s.labels}
    assert values == {"x_latency_seconds_count": 7, "x_latency_seconds_sum": 12.5}


@pytest.mark.parametrize("field,seconds", [("0.004", 0.004), ("-", None), ("0.010, 0.020", 0.03),
                                           ("0.1 : 0.2", 0.3), ("1.0, -", 1.0), ("abc", None)])
def test_upstream_time_sums_retries_and_redirects(field, seconds):
    assert upstream_seconds(field) == (pytest.approx(seconds) if seconds is not None else None)


def test_request_lines_count_by_app_and_class_within_bounds():
    metrics = RequestMetrics(max_apps=2)
    metrics.record_line("200|0.003|app-1")
    metrics.record_line("502|0.5 : 1.0|app-1\n")
    metrics.record_line("404|-|", times=2)
    metrics.record_line("200|0.001|app-2")   # a third app: "other"
    metrics.record_line("999|0.001|app-1")   # not a status
    metrics.record_line("garbage")
    assert metrics.requests == {("app-1", "2xx"): 1, ("app-1", "5xx"): 1, ("", "4xx"): 2,
                                (OTHER_APP, "2xx"): 1}
    assert metrics.malformed == 2 and metrics.lines == 5
    assert sum(metrics.latency_counts) == 3 and metrics.latency_sum == pytest.approx(1.504)
    assert metrics.latency_counts[-1] == 0 and metrics.latency_counts[0] == 2  # <= 5 ms


def test_the_metrics_log_is_read_whole_lines_at_a_time_and_emptied(tmp_path):
    metrics = RequestMetrics()
    log = MetricsLog(tmp_path / "metrics.log", metrics)
    log.create()
    with open(log.path, "ab") as nginx:  # as nginx holds it: O_APPEND
        nginx.write(b"200|0.001|a\n" * 3 + b"200|0.002|a\n404|-|\n20")
        nginx.flush()
        assert log.poll() == 5
        assert log.path.stat().st_size == 0
        nginx.write(b"0|0.001|a\n")   # the rest of a line cut by the previous read
        nginx.flush()
        assert log.poll() == 1
    assert metrics.requests == {("a", "2xx"): 5, ("", "4xx"): 1} and metrics.malformed == 0
    assert log.path.stat().st_size == 0


def test_nginx_sends_metric_lines_only_when_asked_with_the_app_of_each_upstream():
    routes = {RouteKey("a.example.com"): [Endpoint("10.0.0.2", 8080, app="guid-a")],
              RouteKey("b.example.com", "/api"): [Endpoint("10.0.0.3", 8080, app="guid-b")],
              RouteKey("mixed.example.com"): [Endpoint("10.0.0.4", 1, app="x"), Endpoint("10.0.0.5", 1, app="y")]}
    on = render(routes, Listen("127.0.0.1", 80), NginxSettings(run_dir="/run/r"), run_as_root=False)
    assert 'access_log "/run/r/metrics.log" cf_metrics buffer=64k flush=1s;' in on
    app_map = on[on.index("map $proxy_host $cf_metrics_app"):]
    app_map = app_map[:app_map.index("}")]
    assert '"guid-a"' in app_map and '"guid-b"' in app_map and '"x"' not in app_map
    off = render(routes, Listen("127.0.0.1", 80), NginxSettings(request_metrics=False), run_as_root=False)
    assert "metrics.log" not in off and "$cf_metrics_app" not in off


@pytest.mark.parametrize("raw,message", [
    ([], "status: expected an object"),
    ({"port": "80"}, "status.port: expected int"),
    ({"port": 70000}, "status.port: 70000 is not a TCP port"),
    ({"user": "u"}, "status.user and status.password go together"),
    ({"user": "a:b", "password": "p"}, "status.user: basic auth user names cannot contain ':'"),
    ({"pasword": "p"}, "status: unknown keys ['pasword']"),
    ({"max_connections": 0}, "max_connections and header_timeout must be positive"),
])
def test_status_settings_errors_name_the_key(raw, message):
    with pytest.raises(ComponentConfigError) as e:
        parse_status_settings(raw)
    assert message in str(e.value)


def _raw_get(port: int, path: str, auth: str | None = None, head: bytes | None = None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        extra = f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n" if auth else ""
        s.sendall(head or f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_status_server_is_bounded_and_checks_credentials():
    async def scenario() -> None:
        settings = StatusSettings("127.0.0.1", 0, "op", "pw", max_connections=2, header_timeout=0.5)
        component = Component("Test", 0, "127.0.0.1", settings)
        server = StatusServer(settings, component_pages(component, lambda: {"things": 7}, lambda: None), "test")
        await server.start()
        try:
            port = server.port
            get = lambda *a, **k: asyncio.to_thread(_raw_get, port, *a, **k)
            assert (await get("/varz")).startswith(b"HTTP/1.1 401 ")
            assert (await get("/varz", "op:nope")).startswith(b"HTTP/1.1 401 ")
            ok = await get("/varz", "op:pw")
            assert ok.startswith(b"HTTP/1.1 200 ") and b'"things": 7' in ok and b'"type": "Test"' in ok
            assert (await get("/healthz", "op:pw")).endswith(b"\r\n\r\nok\n")
            assert (await get("", head=b"GET /varz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")) \
                .startswith(b"HTTP/1.1 431 ")
            # two idle connections hold the limit: the third is refused at once
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
            try:
                await asyncio.sleep(0.1)
                assert (await get("/varz", "op:pw")).startswith(b"HTTP/1.1 503 ")
            finally:
                for s in idle:
                    s.close()
            await asyncio.sleep(0.7)  # past header_timeout: idle ones were dropped anyway
            assert (await get("/varz", "op:pw")).startswith(b"HTTP/1.1 200 ")
            assert server.refused == 1
        finally:
            await server.stop()
    asyncio.run(scenario())


@pytest.mark.parametrize("raw", ["1", -1, True, 1.5])
def test_a_bad_index_is_refused_naming_it(raw):
    from cf_platform.router.config import ConfigError, parse_config
    with pytest.raises(ConfigError, match=r"index: expected an integer >= 0"):
        parse_config({"nats": {"servers": ["nats://127.0.0.1:4222"]}, "index": raw})
