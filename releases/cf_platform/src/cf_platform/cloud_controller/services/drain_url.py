"""The ``syslog_drain_url`` a broker answers a bind with: what the log server can drain to.

Only ``syslog://host:port`` (TCP, what cf_platform.log_server speaks); no credentials, path,
query or fragment, no control characters, at most 1024 characters. A broker answering
anything else fails the bind (the CC undoes it at the broker) rather than leaving a drain
that silently never works.
"""

from __future__ import annotations

import urllib.parse

MAX_LENGTH = 1024


class DrainUrlInvalid(ValueError):
    pass


def check_drain_url(value: object) -> str | None:
    """The drain URL to keep, None when the broker gave none; DrainUrlInvalid says why not."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DrainUrlInvalid("syslog_drain_url must be a string")
    if len(value) > MAX_LENGTH or any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise DrainUrlInvalid(f"syslog_drain_url must be at most {MAX_LENGTH} printable characters without spaces")
    parts = urllib.parse.urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "syslog" or not parts.hostname or not port:
        raise DrainUrlInvalid("syslog_drain_url must be syslog://host:port (TCP syslog, what the log server drains to)")
    if parts.username is not None or parts.password is not None:
        raise DrainUrlInvalid("syslog_drain_url must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise DrainUrlInvalid("syslog_drain_url must be syslog://host:port, without a path, query or fragment")
    return value
