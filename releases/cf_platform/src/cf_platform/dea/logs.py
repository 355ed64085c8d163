"""The app's stdout and stderr: files in the instance directory, tails for find.droplet."""

from __future__ import annotations

import os
from pathlib import Path

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
