"""The app's stdout and stderr: files in the instance directory, tails for find.droplet, and
the tailer that follows them for the log server (:class:`AppLogTailer`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

STREAMS = ("stdout", "stderr")


def tail(path: Path, lines: int, max_bytes: int = 256 * 1024) -> str:
    """The last ``lines`` lines of a file (reading at most ``max_bytes`` from its end)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:]) if lines > 0 else ""


def tails(logs_dir: Path, lines: int) -> dict[str, str]:
    return {stream: tail(logs_dir / f"{stream}.log", lines) for stream in STREAMS}


# --- following the files for the log server (cf_platform.log_server) ---------------------------

STREAM_TAGS = {"stdout": "OUT", "stderr": "ERR"}


class Emit(Protocol):
    def __call__(self, app: str, source: str, index: int, message: str, stream: str = "OUT",
                 timestamp: float | None = None) -> None: ...


@dataclass
class _Followed:
    offset: int = 0
    partial: bytes = b""


@dataclass
class AppLogTailer:
    """Follows every instance's stdout.log and stderr.log and hands each complete line to
    ``emit`` as ``APP/<index>`` (OUT or ERR). The app writes the files itself (container_init
    points its stdout and stderr there), so following them can never slow the app down; a
    flood is read at most ``max_read`` bytes per file per :meth:`poll`. Blocking (file reads):
    the DEA calls it on a worker thread every ``dea.log_poll_interval``."""

    emit: Emit
    max_read: int = 256 * 1024
    max_line: int = 8 * 1024
    _files: dict[tuple[str, str], _Followed] = field(default_factory=dict)

    def poll(self, instances: Iterable[tuple[str, str, int, Path]]) -> int:
        """``instances``: (instance id, app guid, index, logs dir). Returns lines emitted."""
        emitted = 0
        seen = set()
        for instance_id, app, index, logs_dir in instances:
            for stream in STREAMS:
                key = (instance_id, stream)
                seen.add(key)
                followed = self._files.setdefault(key, _Followed())
                emitted += self._read(logs_dir / f"{stream}.log", followed, app, index, STREAM_TAGS[stream])
        for key in set(self._files) - seen:
            del self._files[key]
        return emitted

    def _read(self, path: Path, followed: _Followed, app: str, index: int, tag: str) -> int:
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < followed.offset:           # truncated: start over
                    followed.offset, followed.partial = 0, b""
                f.seek(followed.offset)
                data = f.read(self.max_read)
        except OSError:
            return 0
        if not data:
            return 0
        followed.offset += len(data)
        data = followed.partial + data
        *lines, followed.partial = data.split(b"\n")
        if len(followed.partial) > self.max_line:     # a line without end: send it in pieces
            lines.append(followed.partial)
            followed.partial = b""
        now = time.time()
        for raw in lines:
            self.emit(app, "APP", index, raw.rstrip(b"\r").decode("utf-8", "replace")[: self.max_line], tag, now)
        return len(lines)
