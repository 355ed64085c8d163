"""What the cloud controller reads from NATS, checked before it acts: requests from the health
manager, crash notices and the DEAs' replies (cf_platform.messages has the rules).

The replies matter as much as the requests: a DEA's id becomes a NATS subject token
(``staging.<id>.start``), and find replies become ``/v2/apps/<guid>/instances`` and
``/stats`` answers, so a malformed one must be dropped, not turned into a 500 or a wrong subject.
"""

from __future__ import annotations

import re
from typing import Any

from ..messages import (DEA_ID_RE, ID_RE, INSTANCE_STATES, MAX_INDEX, VERSION_RE, Fields, MessageError,
                        parse_exited)

__all__ = ["parse_health_start", "parse_health_stop", "parse_exited", "parse_discover_reply",
           "parse_find_reply", "parse_staging_reply", "MessageError"]

MAX_LOG = 1024 * 1024       # characters of a staging log or a log tail kept from a reply
_SHA1_RE = re.compile(r"[0-9a-f]{40}")
_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")


def parse_health_start(payload: Any) -> dict[str, Any]:
    """``health.start {droplet, version, indices: [ints], running?}``."""
    f = Fields(payload, "health.start")
    return {"droplet": f.text("droplet", ID_RE, 128),
            "version": f.text("version", VERSION_RE, 128, required=False),
            "indices": f.integers("indices", 0, MAX_INDEX - 1, max_items=MAX_INDEX, required=True)}


def parse_health_stop(payload: Any) -> dict[str, Any]:
    """``health.stop {droplet, instances: [instance ids], running?}``."""
    f = Fields(payload, "health.stop")
    return {"droplet": f.text("droplet", ID_RE, 128),
            "instances": f.texts("instances", ID_RE, 128, max_items=MAX_INDEX, required=True)}


def parse_discover_reply(payload: Any) -> dict[str, Any]:
    """A DEA's answer to ``dea.discover``: its id is used as a subject token, so it is strict."""
    f = Fields(payload, "dea.discover reply")
    return {"id": f.text("id", DEA_ID_RE, 128),
            "ip": f.text("ip", _HOST_RE, 253, required=False)}


def parse_find_reply(payload: Any) -> dict[str, Any]:
    """A DEA's answer to ``dea.find.droplet`` (README contract), stats and logs included."""
    f = Fields(payload, "dea.find.droplet reply")
    reply: dict[str, Any] = {
        "dea": f.text("dea", DEA_ID_RE, 128),
        "droplet": f.text("droplet", ID_RE, 128),
        "version": f.text("version", VERSION_RE, 128, required=False, default=""),
        "instance": f.text("instance", ID_RE, 128),
        "index": f.integer("index", 0, MAX_INDEX),
        "state": f.one_of("state", INSTANCE_STATES),
        "state_timestamp": f.number("state_timestamp", 0, 1e11, required=False, default=0.0),
        "host": f.text("host", _HOST_RE, 253, required=False),
        "port": f.integer("port", 1, 65535, required=False)}
    if f.data.get("stats") is not None:
        s = f.nested("stats")
        u = s.nested("usage")
        reply["stats"] = {"uptime": s.number("uptime", 0, 1e11, required=False),
                          "mem_quota": s.integer("mem_quota", 0, 2 ** 50, required=False),
                          "usage": {"mem": u.number("mem", 0, 2 ** 50, required=False),
                                    "cpu": u.number("cpu", 0, 1e6, required=False),
                                    "disk": u.number("disk", 0, 2 ** 60, required=False)}}
    if f.data.get("logs") is not None:
        logs = f.nested("logs")
        reply["logs"] = {"stdout": logs.description("stdout", MAX_LOG, keep_newlines=True),
                         "stderr": logs.description("stderr", MAX_LOG, keep_newlines=True)}
    return reply


def parse_staging_reply(payload: Any) -> dict[str, Any]:
    """``{droplet_sha1, detected_buildpack, start_command, log}`` or ``{error, log}``."""
    f = Fields(payload, "staging reply")
    reply: dict[str, Any] = {"log": f.description("log", MAX_LOG, keep_newlines=True)}
    if f.data.get("error"):
        reply["error"] = f.description("error", 4096) or "staging failed"
        return reply
    reply.update({"droplet_sha1": f.text("droplet_sha1", _SHA1_RE, 40, required=False),
                  "detected_buildpack": f.description("detected_buildpack", 256) or None,
                  "start_command": f.description("start_command", 4096) or None})
    return reply
