"""The director's ``/metrics``: Prometheus text, through prometheus_client.

What is measured, and where the numbers come from:

- tasks by type and state, task durations, deploy durations, resurrections: read from the
  tasks table at scrape time (:class:`TaskMetrics`), incrementally (only tasks not yet
  counted are read), so the numbers survive nothing but need no hook in the task runner;
  a task's duration runs from its creation (queued) to its end, as ``bosh-py tasks`` shows;
- agent heartbeats: the director's own subscription to ``hm.agent.heartbeat.*``;
- CPI call durations: :func:`cpi_call_timer` around each call in ``cpi_client``.

Task types are a fixed vocabulary derived from task descriptions (:func:`task_type`), never
the descriptions themselves, which carry names: label values stay few and carry no
operator input. ``/metrics`` sits behind the API's basic auth like every other route.

Which thread: the page is rendered in a worker thread (``asyncio.to_thread``: it reads the
database); heartbeats are counted on the event loop; prometheus_client's metrics are
thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select

from bosh_py.director.models import Task
from bosh_py.director.tasks import UNFINISHED

if TYPE_CHECKING:
    from bosh_py.director.services import Director

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HEARTBEAT_STATES = ("running", "failing", "starting", "stopped", "unknown")
# tasks last from a second to an hour (a cf deploy compiling everything)
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
CPI_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, float("inf"))

# (description prefix, type): the first match wins, so longer prefixes come first
TASK_TYPES: tuple[tuple[str, str], ...] = (
    ("create deployment", "deploy"), ("delete deployment", "delete_deployment"),
    ("scan and fix:", "resurrection"), ("scan and fix", "cck_resolve"), ("scan cloud", "cck_scan"),
    ("create release", "upload_release"), ("delete release", "delete_release"),
    ("export release", "export_release"), ("create stemcell", "upload_stemcell"),
    ("delete stemcell", "delete_stemcell"), ("clean up", "clean_up"), ("fetch logs", "fetch_logs"),
    ("run errand", "run_errand"), ("attach disk", "attach_disk"),
    ("delete orphaned disk", "delete_orphaned_disk"), ("start instances", "start"),
    ("stop instances", "stop"), ("restart instances", "restart"), ("recreate instances", "recreate"),
)

# Process-wide, as the CPI client is made per call site without the director at hand; each
# director app's registry exports it.
CPI_CALL_SECONDS = Histogram("bosh_py_cpi_call_duration_seconds", "Duration of CPI calls (one "
                             "executable run each, retries counted apart), by method and result.",
                             ["method", "result"], registry=None, buckets=CPI_BUCKETS)


def task_type(description: str) -> str:
    for prefix, kind in TASK_TYPES:
        if description.startswith(prefix):
            return kind
    return "other"


@contextlib.contextmanager
def cpi_call_timer(method: str) -> Iterator[None]:
    """Times one CPI call: ``result`` is ``ok`` or ``error`` (any exception)."""
    started = time.monotonic()
    result = "error"
    try:
        yield
        result = "ok"
    finally:
        CPI_CALL_SECONDS.labels(method=method[:64], result=result).observe(time.monotonic() - started)


@dataclass
class TaskMetrics:
    """Counts each finished task once; ``watermark`` is the lowest id that may still change."""

    registry: CollectorRegistry
    watermark: int = 0
    counted: set[int] = field(default_factory=set)
    in_progress: dict[tuple[str, str], int] = field(default_factory=dict)
    last_deploy: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.finished = Counter("bosh_py_tasks_finished", "Tasks that ended, by type and final state "
                                "(done, error, cancelled).", ["type", "state"], registry=self.registry)
        self.durations = Histogram("bosh_py_task_duration_seconds", "Task durations from creation to end, "
                                   "by type (deploy: create deployment; resurrection: the health monitor's "
                                   "scan and fix).", ["type", "state"], registry=self.registry,
                                   buckets=DURATION_BUCKETS)

    def refresh(self, rows: list[Any]) -> None:
        """``rows``: (id, description, state, deployment, started_at, ended_at) with id >= watermark."""
        in_progress: dict[tuple[str, str], int] = {}
        unfinished: list[int] = []
        for task_id, description, state, deployment, started_at, ended_at in rows:
            kind = task_type(description or "")
            if state in UNFINISHED or ended_at is None:
                unfinished.append(task_id)
                in_progress[(kind, state)] = in_progress.get((kind, state), 0) + 1
                continue
            if task_id in self.counted:
                continue
            self.counted.add(task_id)
            seconds = max(0.0, (ended_at - started_at).total_seconds()) if started_at else 0.0
            self.finished.labels(type=kind, state=state).inc()
            self.durations.labels(type=kind, state=state).observe(seconds)
            if kind == "deploy" and state == "done" and deployment and "(dry run)" not in description:
                self.last_deploy[deployment] = seconds
        if unfinished:
            self.watermark = min(unfinished)
        elif rows:
            self.watermark = max(row[0] for row in rows) + 1
        self.counted = {i for i in self.counted if i >= self.watermark}
        self.in_progress = in_progress


class _LiveCollector(Collector):
    """The gauges read at each scrape (tasks queued or running, last deploy durations)."""

    def __init__(self, tasks: TaskMetrics) -> None:
        self.tasks = tasks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queued = GaugeMetricFamily("bosh_py_tasks_in_progress", "Tasks queued or processing, by type.",
                                   labels=["type", "state"])
        for (kind, state), count in sorted(self.tasks.in_progress.items()):
            queued.add_metric([kind, state], count)
        yield queued
        deploys = GaugeMetricFamily("bosh_py_deploy_last_duration_seconds",
                                    "Duration of the last successful deploy of each deployment.",
                                    labels=["deployment"])
        for name, seconds in sorted(self.tasks.last_deploy.items()):
            deploys.add_metric([name], seconds)
        yield deploys


class DirectorMetrics:
    """One director's registry: the task reader, heartbeats, and the shared CPI histogram."""

    def __init__(self, director: Director) -> None:
        self.director = director
        self.registry = CollectorRegistry(auto_describe=True)
        self.tasks = TaskMetrics(self.registry)
        self.registry.register(_LiveCollector(self.tasks))
        self.heartbeats = Counter("bosh_py_agent_heartbeats", "Agent heartbeats the director received, "
                                  "by the job state they reported.", ["job_state"], registry=self.registry)
        self.registry.register(CPI_CALL_SECONDS)
        self._lock = threading.Lock()
        self._subscription: Any = None

    def render(self) -> bytes:
        with self._lock:  # one refresh at a time: two scrapes must not count a task twice
            with self.director.sessions() as session:
                rows = session.execute(
                    select(Task.id, Task.description, Task.state, Task.deployment_name, Task.started_at,
                           Task.ended_at).where(Task.id >= self.tasks.watermark).order_by(Task.id)).all()
            self.tasks.refresh([tuple(row) for row in rows])
            return generate_latest(self.registry)

    def heartbeat(self, data: bytes) -> None:
        try:
            payload = json.loads(data)
        except ValueError:
            return
        state = str(payload.get("job_state", "")) if isinstance(payload, dict) else ""
        self.heartbeats.labels(job_state=state if state in HEARTBEAT_STATES else "unknown").inc()

    async def start(self, _app: web.Application) -> None:
        nats = self.director.nats
        if nats is None:
            return

        async def on_heartbeat(msg: Any) -> None:
            self.heartbeat(msg.data)

        self._subscription = await nats.subscribe("hm.agent.heartbeat.*", cb=on_heartbeat)

    async def stop(self, _app: web.Application) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):  # the connection may be closing already
                await self._subscription.unsubscribe()
            self._subscription = None


def install_metrics(app: web.Application, director: Director) -> DirectorMetrics:
    """``GET /metrics`` (behind the API's basic auth) and the heartbeat subscription."""
    metrics = DirectorMetrics(director)
    routes = web.RouteTableDef()

    @routes.get("/metrics")
    async def scrape(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.add_routes(routes)
    app.on_startup.append(metrics.start)
    app.on_cleanup.append(metrics.stop)
    return metrics
