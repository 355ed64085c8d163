"""A task's logs: the JSON-lines event log the CLI tails, the debug log, and the result.

Event lines follow BOSH's shape: {time, stage, tags, total, task, index, state, progress, data}.
Nothing secret is ever written here; callers pass names and cids, never credentials.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


@dataclass
class Stage:
    log: "TaskLog"
    name: str
    total: int
    tags: list[str] = field(default_factory=list)
    _index: int = 0

    @contextmanager
    def task(self, description: str) -> Iterator[None]:
        """Record one unit of work: started, then finished or failed with the error."""
        with self.log.lock:
            self._index += 1
            index = self._index
        self.log.event(self.name, description, index, self.total, "started", self.tags)
        try:
            yield
        except BaseException as error:
            self.log.event(self.name, description, index, self.total, "failed", self.tags,
                           data={"error": str(error) or error.__class__.__name__})
            raise
        self.log.event(self.name, description, index, self.total, "finished", self.tags)


class TaskLog:
    """A task's log files; the directory is made on the first write, so reading the
    output of a task that never ran leaves nothing behind."""

    def __init__(self, task_dir: Path, task_id: int) -> None:
        self.task_id = task_id
        self.dir = task_dir
        self.lock = threading.Lock()

    @property
    def event_path(self) -> Path:
        return self.dir / "event"

    @property
    def debug_path(self) -> Path:
        return self.dir / "debug"

    @property
    def result_path(self) -> Path:
        return self.dir / "result"

    def stage(self, name: str, total: int, tags: list[str] | None = None) -> Stage:
        return Stage(self, name, total, tags or [])

    def event(self, stage: str, task: str, index: int, total: int, state: str,
              tags: list[str] | None = None, data: dict | None = None) -> None:
        entry = {"time": int(time.time()), "stage": stage, "tags": tags or [], "total": total,
                 "task": task, "index": index, "state": state,
                 "progress": 100 if state == "finished" else 0}
        if data:
            entry["data"] = data
        self._append(self.event_path, json.dumps(entry))
        self.debug(f"{stage}: {task} ({state}){' ' + data['error'] if data and 'error' in data else ''}")

    def error(self, message: str) -> None:
        self._append(self.event_path, json.dumps({"time": int(time.time()), "error": {"code": 100, "message": message}}))
        self.debug(f"ERROR: {message}")

    def info(self, message: str) -> None:
        """A plain line the CLI shows between stages (e.g. "No changes")."""
        self._append(self.event_path, json.dumps({"time": int(time.time()), "type": "info", "message": message}))
        self.debug(message)

    def debug(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        self._append(self.debug_path, f"{stamp} {message}")

    def write_result(self, text: str) -> None:
        with self.lock:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.result_path.write_text(text)

    def _append(self, path: Path, line: str) -> None:
        with self.lock:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with path.open("a") as out:
                out.write(line + "\n")


def read_from(path: Path, offset: int) -> tuple[str, int]:
    """Return the text past ``offset`` and the new offset (for tailing)."""
    if not path.exists():
        return "", offset
    with path.open("rb") as stream:
        stream.seek(offset)
        data = stream.read()
    return data.decode(errors="replace"), offset + len(data)
