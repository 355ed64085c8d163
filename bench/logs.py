#!/usr/bin/env python3
"""Log benchmark: lines per second from an app to a ``cf-py logs`` follower, and the
end-to-end latency (p50/p99) of each line.

The path measured is the one an app's stdout takes on bosh-py, minus the container:

  an "app" thread appends ``<seq> <time>`` lines to a stdout.log file (as an app's stdout is a
  file in its instance directory) at a target rate;
  the DEA's own code follows that file (``dea.logs.AppLogTailer``, polled every
  ``--poll`` seconds as ``dea.log_poll_interval``) and sends lines through the DEA's emitter
  (``log_server.emitter.LogEmitter``);
  the real log server process (``python3 -S -m cf_platform.log_server``) takes them and
  streams them to a real ``cf-py logs APP`` process, authorized by a real cloud controller;
  the benchmark reads cf-py's stdout and takes, for each line, now minus the time in it.

Each rate runs ``--duration`` seconds; ``max`` writes as fast as the thread can. "lost" are
lines written but never printed by cf-py (dropped by the emitter's bounded queue or by the
server for a slow follower, by design), counted after a 3 s grace.

    .venv/bin/python bench/logs.py [--rates 100,1000,5000,max] [--duration 5] [--poll 0.25]
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from cf_platform.dea.logs import AppLogTailer  # noqa: E402
from cf_platform.log_server.emitter import EmitterSettings, LogEmitter  # noqa: E402

from tests.cf.cc.plumbing import end_process, login, start_nats  # noqa: E402
from tests.cf.logs.log_server_support import (CfPy, create_app, start_cc_with_logs,  # noqa: E402
                                              start_log_server)
from tests.harness import free_port  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_rate(rate: float | None, duration: float, poll: float, guid: str, logfile: Path, emitter: LogEmitter,
             printed: "queue.Queue[tuple[float, str]]") -> dict:
    """One rate, on a fresh ``logfile`` (the tailer reads it from its start)."""
    logfile.parent.mkdir(parents=True)
    logfile.touch()
    tailer = AppLogTailer(emitter.emit)
    tag = f"r{time.monotonic_ns()}"
    stop = threading.Event()
    written = 0

    def follow() -> None:
        while not stop.is_set():
            tailer.poll([("bench", guid, 0, logfile.parent)])
            time.sleep(poll)
        tailer.poll([("bench", guid, 0, logfile.parent)])

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    started = time.monotonic()
    with open(logfile, "a", buffering=1) as out:
        while time.monotonic() - started < duration:
            out.write(f"{tag} {written} {time.time():.6f}\n")
            written += 1
            if rate is not None:
                delay = started + written / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    elapsed = time.monotonic() - started
    stop.set()
    follower.join()
    latencies: list[float] = []
    deadline = time.monotonic() + 3.0
    while len(latencies) < written and time.monotonic() < deadline:
        try:
            seen_at, text = printed.get(timeout=0.2)
        except queue.Empty:
            continue
        parts = text.rsplit(" ", 3)
        if len(parts) == 4 and parts[1] == tag:
            latencies.append(seen_at - float(parts[3]))
    return {"rate": "max" if rate is None else f"{rate:g}", "written": written,
            "per_second": len(latencies) / elapsed, "lost": written - len(latencies),
            "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "mean": statistics.fmean(latencies) if latencies else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,1000,5000,max")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--poll", type=float, default=0.25)
    args = parser.parse_args()
    rates = [None if r == "max" else float(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    nats = start_nats(work)
    cc = log_server = follower = None
    try:
        log_port = free_port()
        cc = start_cc_with_logs(work / "cc", nats, log_port, log_level="WARNING")
        log_server = start_log_server(work / "log_server", cc.url, log_port, log_level="warning",
                                      follower_queue=100_000)
        guid = create_app(cc, login(cc), "bench")
        (work / "home").mkdir()
        cf = CfPy(work / "cf-py.json", work / "home")
        cf.ok("api", cc.url)
        cf.ok("login", "-u", "admin", "-p", "admin-secret")
        follower = cf.follow("logs", "bench")
        printed: "queue.Queue[tuple[float, str]]" = queue.Queue()

        def read() -> None:
            assert follower is not None and follower.stdout is not None
            for text in follower.stdout:
                printed.put((time.time(), text.rstrip("\n")))

        threading.Thread(target=read, daemon=True).start()
        first = printed.get(timeout=30)[1]
        assert first.startswith("Connected"), first
        time.sleep(0.5)                       # the follower's request reaches the server
        emitter = LogEmitter(EmitterSettings(**log_server.emitter_settings("dea"), queue_size=100_000))
        results = [run_rate(rate, args.duration, args.poll, guid, work / f"instance-{n}" / "stdout.log", emitter,
                            printed) for n, rate in enumerate(rates)]
        emitter.close()
    finally:
        if follower is not None and follower.poll() is None:
            follower.send_signal(signal.SIGINT)
            try:
                follower.wait(5)
            except Exception:  # noqa: BLE001 - ending it anyway
                end_process(follower)
        for process in (log_server, cc):
            if process is not None:
                end_process(process.proc)
        end_process(nats.proc)
        shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"app → cf-py logs (DEA file poll {args.poll:g} s, {args.duration:g} s per rate)")
    for column in ("target lines/s", "written", "printed lines/s", "lost", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(r["rate"], str(r["written"]), f"{r['per_second']:.0f}", str(r["lost"]),
                      f"{r['p50'] * 1000:.0f}", f"{r['p99'] * 1000:.0f}", f"{r['mean'] * 1000:.0f}")
    Console().print(table)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
