"""What the DEA tells beyond NATS: app log lines to the log server, and its /varz counters.

- :class:`LogPump` (on the DEA's loop; file reads on a worker thread): follows the instances'
  log files (logs.AppLogTailer) and sends ``APP/<index>`` lines, staging output as ``STG/0``
  and the DEA's own events about an instance as ``DEA/<index>`` (dea_ng's "Starting app
  instance" lines), all through one non-blocking emitter (cf_platform.log_server.emitter).
- :func:`varz`: the DEA's counters for CF v1's status port (cf_platform.component).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cf_platform.log_server.emitter import EmitterSettings, LogEmitter

from .instance import Instance, State
from .logs import AppLogTailer

if TYPE_CHECKING:
    from .agent import Dea


class LogPump:
    def __init__(self, settings: EmitterSettings) -> None:
        self.emitter = LogEmitter(settings)
        self.tailer = AppLogTailer(self.emitter.emit)
        self._polling = asyncio.Lock()      # the timer and an exiting instance may both ask

    async def poll(self, instances: list[Instance]) -> None:
        followed = [(i.instance_id, i.droplet, i.index, i.directory / "logs")
                    for i in instances if i.directory is not None]
        async with self._polling:
            await asyncio.to_thread(self.tailer.poll, followed)

    def staging(self, app_id: str, log_text: str) -> None:
        for line in log_text.rstrip("\n").splitlines():
            self.emitter.emit(app_id, "STG", 0, line)

    def event(self, instance: Instance, message: str, stream: str = "OUT") -> None:
        self.emitter.emit(instance.droplet, "DEA", instance.index, message, stream)

    def counters(self) -> dict[str, int]:
        return self.emitter.counters()

    def close(self) -> None:
        self.emitter.close()


def varz(dea: Dea) -> dict[str, Any]:
    """The DEA's own counters; component.Component.varz adds CF v1's common keys."""
    registry = dea.manager.registry if dea.manager is not None else None
    states = {state.value: 0 for state in State}
    for instance in (registry or ()):
        states[instance.state.value] += 1
    doc: dict[str, Any] = {
        "instances": states,
        "available_memory_mb": dea.available_memory() if registry is not None else dea.config.memory_mb,
        "reserved_memory_mb": registry.reserved_memory_mb() if registry is not None else 0,
        "available_disk_mb": dea.available_disk() if registry is not None else dea.config.disk_mb,
        "stagings": {"queued_or_running": dea._staging_queued, "completed": dea.stagings_done,
                     "failed": dea.stagings_failed},
        "evacuating": dea.evacuating_since is not None,
        "stacks": list(dea.config.stacks),
    }
    if dea.logs is not None:
        doc["log_lines"] = dea.logs.counters()
    return doc
