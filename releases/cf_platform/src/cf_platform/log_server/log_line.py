"""One log line of an app: what senders post, what the buffer keeps and followers receive.

Plain data on the wire (a JSON object a line); :func:`parse_line` checks a sender's object
and names the bad key, :func:`format_line` prints it as the ``cf`` CLI printed loggregator's
lines: ``2026-12-01T03:00:00.00+0000 [APP/0] OUT hello``.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any

#: source types as loggregator named them (``DEA`` and ``HM`` are the platform's own events)
SOURCES = ("APP", "STG", "RTR", "API", "HM", "DEA")
STREAMS = ("OUT", "ERR")
MAX_MESSAGE = 8 * 1024          # longer messages are cut (loggregator's limit was 64 KiB per envelope)
_GUID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class BadLine(ValueError):
    """A sender's line is malformed; the message names the key."""


@dataclass(frozen=True)
class LogLine:
    app: str            # the app guid
    source: str         # one of SOURCES
    index: int          # instance index (0 for sources without one)
    stream: str         # OUT or ERR
    timestamp: float    # seconds since the epoch, when the sender read the line
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_line(raw: Any, where: str = "line") -> LogLine:
    if not isinstance(raw, dict):
        raise BadLine(f"{where}: expected a JSON object")
    app = raw.get("app")
    if not isinstance(app, str) or not _GUID.match(app):
        raise BadLine(f"{where}.app: expected an app guid")
    source = raw.get("source")
    if source not in SOURCES:
        raise BadLine(f"{where}.source: expected one of {', '.join(SOURCES)}")
    index = raw.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 100_000:
        raise BadLine(f"{where}.index: expected an integer from 0")
    stream = raw.get("stream", "OUT")
    if stream not in STREAMS:
        raise BadLine(f"{where}.stream: expected OUT or ERR")
    timestamp = raw.get("timestamp", time.time())
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool) or timestamp <= 0:
        raise BadLine(f"{where}.timestamp: expected seconds since the epoch")
    message = raw.get("message")
    if not isinstance(message, str):
        raise BadLine(f"{where}.message: expected a string")
    return LogLine(app, source, index, stream, float(timestamp), message[:MAX_MESSAGE])


def format_timestamp(timestamp: float) -> str:
    """``2026-12-01T03:00:00.00+0000`` in local time, hundredths as the cf CLI printed them."""
    local = time.localtime(timestamp)
    hundredths = int((timestamp % 1) * 100)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{hundredths:02d}" + time.strftime("%z", local)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(message: str) -> str:
    """Control characters (ANSI escapes, carriage returns) as ``\\xNN``: a line an app, or a
    client's User-Agent in an access line, wrote must not drive the reader's terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", message)


def format_line(line: LogLine) -> str:
    """For a terminal: the message's control characters escaped (:func:`printable`)."""
    return f"{format_timestamp(line.timestamp)} [{line.source}/{line.index}] {line.stream} {printable(line.message)}"
