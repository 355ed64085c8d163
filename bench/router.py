#!/usr/bin/env python3
"""Router benchmark: requests/s and p50/p99 latency of one small app reached

  (a) directly,
  (b) through the bosh-py router (its control plane + nginx data plane, the route
      registered over NATS as a DEA would, the job's default settings: access log on),
  (b') the same with ``router.request_metrics`` off (no metric line per request: what
      /metrics' request counts cost),
  (c) through plain nginx as a reverse proxy (keepalive upstream, no access log),

with wrk (Debian package `wrk`), all on 127.0.0.x, in one run. The app is a tiny nginx
answering 200 "hello" (``--app python``: a stdlib asyncio HTTP server instead), so the
proxies rather than the app are what is measured. Each measurement is ``--duration``
seconds with 2 threads and 50 connections; the three targets are interleaved for
``--runs`` runs and the medians printed.

A second table measures route churn, the control plane's side: register → routable
latency (a new route registered over NATS until a request through the router gets 200; every
change means render, ``nginx -t`` and a reload, after ``reload_debounce``) with 1,000 and
10,000 routes in the table, and the router's memory right after 1,000 route changes (RSS
and PSS summed over the control plane, the nginx master and every worker, old generations
still finishing included).

    .venv/bin/python bench/router.py [--runs 3] [--duration 5] [--app nginx|python]
                                     [--samples 20] [--table-sizes 1000,10000] [--churn-only]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.cf.router.helpers import (NatsClient, find_nginx, free_port, start_nats,  # noqa: E402
                                     start_router, stop_pid, wait_for_port, wait_until)

HOST = "bench.example.com"

PYTHON_APP = textwrap.dedent("""
    import asyncio, sys
    BODY = b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello"
    async def serve(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(BODY)
                await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()
    async def main():
        server = await asyncio.start_server(serve, sys.argv[1], int(sys.argv[2]), backlog=1024)
        await server.serve_forever()
    asyncio.run(main())
""")


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, host: str | None, duration: int, threads: int, connections: int) -> Result:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=duration + 30).stdout
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors for {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    return Result(rps, p50, p99)


def start_nginx(nginx: str, workdir: Path, body: str) -> subprocess.Popen:
    """A standalone nginx (daemon off) with ``body`` inside its http block."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    conf = workdir / "nginx.conf"
    temp = "\n".join(f"  {k}_temp_path {workdir}/{k}_temp;"
                     for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(f"daemon off;\nworker_processes auto;\npid {workdir}/nginx.pid;\n"
                    f"error_log {workdir}/error.log warn;\nuser nobody nogroup;\n"
                    f"events {{ worker_connections 4096; }}\n"
                    f"http {{\n  access_log off;\n{temp}\n{body}\n}}\n")
    return subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stderr=open(workdir / "stderr.log", "wb"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--app", choices=("nginx", "python"), default="nginx")
    parser.add_argument("--no-access-log", action="store_true",
                        help="run the router with router.access_log false (its default is true)")
    parser.add_argument("--samples", type=int, default=20, help="register → routable samples per table size")
    parser.add_argument("--table-sizes", default="1000,10000", help="routes in the table for the latency rows")
    parser.add_argument("--churn-only", action="store_true", help="only the route churn table (no wrk)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.table_sizes.split(",") if size.strip()]
    nginx = find_nginx()
    if nginx is None or shutil.which("wrk") is None:
        print("bench/router.py needs nginx and wrk (apt-get install nginx wrk)", file=sys.stderr)
        return 1

    console = Console(width=120)
    base = Path(tempfile.mkdtemp(prefix="cf-router-bench-"))
    base.chmod(0o755)
    procs: list[subprocess.Popen] = []
    nats = router = router_off = client = None
    try:
        app_host, app_port = "127.0.0.2", free_port("127.0.0.2")
        if args.app == "nginx":
            procs.append(start_nginx(nginx, base / "app", f"  server {{ listen {app_host}:{app_port}; "
                                     f"location / {{ return 200 \"hello\"; }} }}"))
        else:
            procs.append(subprocess.Popen([sys.executable, "-c", PYTHON_APP, app_host, str(app_port)]))
        wait_for_port(app_host, app_port)

        proxy_port = free_port("127.0.0.3")
        procs.append(start_nginx(nginx, base / "proxy", textwrap.dedent(f"""
            upstream app {{ server {app_host}:{app_port}; keepalive 32; }}
            server {{
              listen 127.0.0.3:{proxy_port};
              location / {{
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $http_host;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_pass http://app;
              }}
            }}""")))
        wait_for_port("127.0.0.3", proxy_port)

        nats = start_nats()
        router = start_router(nats, nginx, nginx={"worker_processes": "auto", "worker_connections": 8192,
                                                  "reload_debounce": 0.2,  # the job's default
                                                  "access_log": not args.no_access_log})
        # the same router with nginx's per-request metric lines off (router.request_metrics)
        router_off = start_router(nats, nginx, nginx={"worker_processes": "auto", "worker_connections": 8192,
                                                      "reload_debounce": 0.2, "request_metrics": False,
                                                      "access_log": not args.no_access_log})
        client = NatsClient(nats)
        client.publish("router.register", {"host": app_host, "port": app_port, "uris": [HOST],
                                           "app": "bench-app", "private_instance_id": "bench-0"})

        def routed(port: int) -> bool:
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/", headers={"Host": HOST})
                return conn.getresponse().status == 200
            finally:
                conn.close()
        for proxy in (router, router_off):
            wait_until(lambda: routed(proxy.port), 15, message="the bench route")
            proxy.config["nginx"]["worker_processes"] = _cpu_count()
            proxy.settle()

        targets = {
            "direct to the app": (f"http://{app_host}:{app_port}/", None),
            "bosh-py router (nginx data plane)": (f"http://127.0.0.1:{router.port}/", HOST),
            "bosh-py router, request metrics off": (f"http://127.0.0.1:{router_off.port}/", HOST),
            "plain nginx reverse proxy": (f"http://127.0.0.3:{proxy_port}/", None),
        }
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for run in range(1, 0 if args.churn_only else args.runs + 1):
            for name, (url, host) in targets.items():
                console.log(f"run {run}/{args.runs}: {name}")
                results[name].append(run_wrk(url, host, args.duration, args.threads, args.connections))
                time.sleep(0.5)

        table = Table(title=f"Router throughput: wrk -t{args.threads} -c{args.connections} "
                            f"-d{args.duration}s, {args.app} app, median of {args.runs} runs")
        for column in ("target", "requests/s", "p50 ms", "p99 ms", "rps vs nginx", "p99 vs nginx"):
            table.add_column(column, justify="left" if column == "target" else "right")
        medians = {} if args.churn_only else {name: Result(statistics.median(r.rps for r in rs), statistics.median(r.p50_ms for r in rs),
                                statistics.median(r.p99_ms for r in rs)) for name, rs in results.items()}
        if not args.churn_only:
            ref = medians["plain nginx reverse proxy"]
            for name, m in medians.items():
                table.add_row(name, f"{m.rps:,.0f}", f"{m.p50_ms:.2f}", f"{m.p99_ms:.2f}",
                              f"{m.rps / ref.rps:.2f}x", f"{m.p99_ms / ref.p99_ms:.2f}x")
            console.print(table)
        console.print(churn_table(console, router, client, app_host, app_port, sizes, args.samples))
        return 0
    finally:
        if client is not None:
            client.close()
        if router is not None:
            router.stop()
        if router_off is not None:
            router_off.stop()
        if nats is not None:
            nats.stop()
        for proc in procs:
            stop_pid(proc)
        shutil.rmtree(base, ignore_errors=True)


def _fill(router, client, app_host: str, app_port: int, size: int, prefix: str) -> None:
    """Routes ``prefix-N.example.com`` until the table holds ``size`` of them, 100 per message
    (a message's limit), then wait until nginx runs only the resulting configuration."""
    for first in range(0, size, 100):
        client.publish("router.register", {"host": app_host, "port": app_port, "app": "filler",
                                           "uris": [f"{prefix}-{n}.example.com"
                                                    for n in range(first, min(size, first + 100))]})
    wait_until(lambda: router.varz()["routes"] >= size + 1, 120, message=f"{size} routes in the table")
    time.sleep(1.0)  # the last debounce window and reload
    router.settle(120)


def _routable_ms(router, client, app_host: str, app_port: int, host: str) -> float:
    """From publishing router.register for ``host`` until a request for it gets 200."""
    import http.client
    started = time.monotonic()
    client.publish("router.register", {"host": app_host, "port": app_port, "uris": [host], "app": "probe"})
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
        try:
            conn.request("GET", "/", headers={"Host": host})
            if conn.getresponse().status == 200:
                return (time.monotonic() - started) * 1000
        finally:
            conn.close()
        if time.monotonic() - started > 60:
            raise RuntimeError(f"{host} not routable after 60 s")
        time.sleep(0.002)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _router_memory(router) -> tuple[int, int, int]:
    """(RSS sum, PSS sum in KiB, nginx processes) over the control plane and all its nginx."""
    pids = [router.proc.pid]
    master = router.nginx_pid()
    if master is not None:
        pids += [master, *router.nginx_workers()]
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("Rss", "Pss"):
                    kib = int(value.split()[0])
                    rss, pss = (rss + kib, pss) if name == "Rss" else (rss, pss + kib)
        except OSError:
            continue
    return rss, pss, len(pids) - 1


def churn_table(console: Console, router, client, app_host: str, app_port: int, sizes: list[int],
                samples: int) -> Table:
    table = Table(title=f"Route churn: register → routable ({samples} samples each) and memory; "
                        f"reload_debounce {router.config['nginx']['reload_debounce']}s")
    for column in ("measure", "value"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rss, pss, procs = _router_memory(router)
    table.add_row("memory at start: RSS sum / PSS sum (nginx processes)",
                  f"{rss / 1024:.0f} / {pss / 1024:.0f} MiB ({procs})")

    console.log("1,000 route changes (500 registered, then unregistered, 50 every 50 ms)")
    reloads = router.varz()["nginx"]["reloads"]
    for subject in ("router.register", "router.unregister"):
        for first in range(0, 500, 50):
            for n in range(first, first + 50):
                client.publish(subject, {"host": app_host, "port": app_port, "app": f"churn-{n}",
                                         "uris": [f"churn-{n}.example.com"]})
            time.sleep(0.05)
    time.sleep(0.5)
    rss, pss, procs = _router_memory(router)
    table.add_row("memory after 1,000 route changes: RSS sum / PSS sum (nginx processes)",
                  f"{rss / 1024:.0f} / {pss / 1024:.0f} MiB ({procs})")
    table.add_row("nginx reloads for those 1,000 changes", str(router.varz()["nginx"]["reloads"] - reloads))
    router.settle(120)
    rss, pss, procs = _router_memory(router)
    table.add_row("memory once old workers exited: RSS sum / PSS sum (nginx processes)",
                  f"{rss / 1024:.0f} / {pss / 1024:.0f} MiB ({procs})")

    for size in sizes:  # growing: the routes of a smaller size stay in the larger table
        console.log(f"filling the table to {size:,} routes")
        _fill(router, client, app_host, app_port, size, "fill")
        latencies = []
        for i in range(samples):
            latencies.append(_routable_ms(router, client, app_host, app_port, f"probe-{size}-{i}.example.com"))
            router.settle(120)
        table.add_row(f"register → routable, {size:,} routes: p50 / p99",
                      f"{_percentile(latencies, 0.5):.0f} / {_percentile(latencies, 0.99):.0f} ms")
    return table


def _cpu_count() -> int:
    """What nginx's worker_processes auto starts (the CPUs this process may use)."""
    import os
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
