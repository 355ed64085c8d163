"""The ``syslog_drain_url`` a broker answers a bind with: what the log server can drain to.

Only ``syslog://host:port`` (TCP, what cf_platform.log_server speaks); no credentials, path,
query or fragment, no control characters, at most 1024 characters. A broker answering
anything else fails the bind (the CC undoes it at the broker) rather than leaving a drain
that silently never works.

A host written as a loopback, link-local, multicast or unspecified address (127.0.0.1,
``[::1]``, 169.254.169.254, also in inet_aton's forms such as ``127.1`` or ``0x7f000001``)
is refused here too: the log server never drains there (log_server/drain_policy.py). That is
only the obvious case: what a host *name* resolves to is judged by the log server each time
it connects, which is the real enforcement (the CC cannot know a name's later answers).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from ...log_server.drain_policy import builtin_refusal

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
    literal = _ip_literal(parts.hostname)
    why = builtin_refusal(literal) if literal is not None else None
    if why is not None:
        raise DrainUrlInvalid(f"syslog_drain_url may not point at a loopback, link-local, multicast or unspecified "
                              f"address ({why}); the log server refuses it")
    return value


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells without any lookup, None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:    # what getaddrinfo also takes as IPv4: 127.1, 0x7f.1, 2130706433 (parsed, never looked up)
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
