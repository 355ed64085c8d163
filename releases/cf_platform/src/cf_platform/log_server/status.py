"""The log server as a CF v1 component (cf_platform/component.py): /healthz and /varz on a
status port of its own, with its own credentials, announced on NATS when the job has the
``nats`` link. Best effort: the log server takes and serves lines whether NATS answers or not.

The figures are read from :class:`~.server.LogServer`'s counters on the status thread; every
read is a counter or a short locked count, never a wait on a request thread.
"""

from __future__ import annotations

from typing import Any

from ..component import Component, ComponentThread
from .config import LogServerConfig
from .server import LogServer


def log_server_counters(server: LogServer) -> dict[str, Any]:
    """The log server's part of /varz: who is connected, lines in and out, what was lost."""
    drains = server.drains.counters()
    return {
        "senders": {"connected": server.senders_connected, "batches": server.accepted_batches,
                    "batches_refused": server.refused_batches},
        "followers": {"connected": server.hub.count(), "lines_out": server.follower_lines_out,
                      "lines_dropped": server.hub.dropped},
        "lines": {"in": server.received, "out": server.follower_lines_out + drains["sent"],
                  "dropped": server.hub.dropped + drains["dropped"]},
        "syslog_drains": drains,
        "syslog_drains_refused": drains["refused"],     # drains refused by the policy (drain_policy.py)
        "apps_buffered": server.recent.app_count(),
        "connections_refused": server.httpd.refused if server.httpd is not None else 0,
    }


def start_status(server: LogServer, config: LogServerConfig) -> ComponentThread | None:
    """The status port (an ``OSError`` when its port is taken), then NATS in the background;
    None without status credentials in the config."""
    if config.status is None:
        return None
    thread = ComponentThread(Component("LogServer", config.index, config.host, config.status),
                             lambda: log_server_counters(server),
                             lambda: None if server.serving() else "the HTTP server is not running",
                             realm="log_server", nats=config.nats, client_name="log_server")
    thread.start()
    return thread
