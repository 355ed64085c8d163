"""Printing: rich tables for people, JSON for scripts, and BOSH-style task progress lines."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output (scripts, tests, CI logs) gets wide lines rather than rich's 80-column wrap.
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                as_json: bool, json_rows: list[dict] | None = None) -> None:
    if as_json:
        payload = json_rows if json_rows is not None else [dict(zip(columns, row)) for row in rows]
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    table = Table(title=title, show_lines=False, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if cell is None else str(cell) for cell in row])
    console.print(table)
    console.print(f"{len(rows)} {'row' if len(rows) == 1 else 'rows'}")


class TaskPrinter:
    """Turns event-log lines into `HH:MM:SS | Stage: task (00:00:03)` lines as BOSH prints."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, str], int] = {}

    def __call__(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(event.get("time", time.time())))
        if "error" in event:
            err_console.print(f"{stamp} | [red]Error: {escape(event['error']['message'])}[/red]")
            return
        if event.get("type") == "info":
            console.print(f"{stamp} | {escape(event['message'])}")
            return
        key = (event.get("stage", ""), event.get("task", ""))
        if event.get("state") == "started":
            self.started[key] = event["time"]
            return
        took = event["time"] - self.started.pop(key, event["time"])
        duration = time.strftime("%H:%M:%S", time.gmtime(took))
        label = f"{event['stage']}: {event['task']}"
        if event.get("state") == "failed":
            reason = event.get("data", {}).get("error", "")
            err_console.print(f"{stamp} | {escape(label)} ({duration})\n            [red]L Error: {escape(reason)}[/red]")
        else:
            console.print(f"{stamp} | {escape(label)} ({duration})")
