"""Task, lock and event commands."""

from __future__ import annotations

import sys
import time

import click

from bosh_py.cli.common import client, json_option
from bosh_py.cli.output import TaskPrinter, console, print_table


def _when(stamp: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else ""


@click.command()
@click.option("-r", "--recent", "recent", type=int, default=None, help="Show this many recent tasks")
@click.option("-d", "--deployment", default=None)
@json_option
def tasks(recent: int | None, deployment: str | None, as_json: bool) -> None:
    """List running tasks, or recent ones with -r."""
    rows = client().get("/tasks", limit=recent or 30, deployment=deployment,
                        state=None if recent else "processing")
    print_table("Tasks", ["ID", "State", "Started", "Finished", "Deployment", "Description", "Result"],
                [[t["id"], t["state"], _when(t["started_at"]), _when(t["ended_at"]), t["deployment"] or "",
                  t["description"], (t["result"] or "")[:80]] for t in rows], as_json, rows)


@click.command()
@click.argument("task_id", type=int)
@click.option("--debug", is_flag=True, help="Show the debug log")
@click.option("--event", "event", is_flag=True, help="Show the raw event log")
@click.option("--result", is_flag=True, help="Show the result")
def task(task_id: int, debug: bool, event: bool, result: bool) -> None:
    """Show a task's event log (following it while it runs), or its debug log or result."""
    director = client()
    if debug or event or result:
        kind = "debug" if debug else "event" if event else "result"
        text, _, _ = director.task_output(task_id, kind)
        sys.stdout.write(text)
        return
    final = director.follow_task(task_id, TaskPrinter())
    console.print(f"\nTask {task_id} {final['state']}")
    if final["state"] != "done":
        sys.exit(1)


@click.command("cancel-task")
@click.argument("task_id", type=int)
def cancel_task(task_id: int) -> None:
    """Cancel a task: at once if it is queued, else when the process running it next looks
    (a worker checks every quarter second); its steps stop at their next await."""
    if not client().delete(f"/tasks/{task_id}")["cancelled"]:
        console.print(f"Task {task_id} has already ended")
        sys.exit(1)
    console.print(f"Cancelling task {task_id} (`bosh-py task {task_id}` follows it to the end)")


@click.command()
@json_option
def locks(as_json: bool) -> None:
    """List current deployment locks and the tasks holding them."""
    rows = client().get("/locks")
    print_table("Locks", ["Type", "Resource", "Task ID", "Expires at"],
                [[r["type"], r["resource"], r["task_id"], _when(r["expires_at"])] for r in rows], as_json, rows)


@click.command()
@click.option("-d", "--deployment", default=None)
@json_option
def events(deployment: str | None, as_json: bool) -> None:
    """List recent director events."""
    rows = client().get("/events", deployment=deployment)
    print_table("Events", ["ID", "Time", "Action", "Object Type", "Object Name", "Task ID", "Deployment", "Error"],
                [[e["id"], _when(e["time"]), e["action"], e["object_type"], e["object_name"], e["task_id"] or "",
                  e["deployment"] or "", e["error"] or ""] for e in rows], as_json, rows)


COMMANDS = [tasks, task, cancel_task, locks, events]
