"""Waiting for an app to stage and run, telling the user what happens meanwhile.

Fails (CfError) with what the user needs to fix it: the staging log when staging fails,
the exit description and the instance's last output when an instance crashes.
"""

from __future__ import annotations

import time
from typing import Callable

from rich.console import Console

from .cc_client import CcClient
from .errors import CfError

POLL = 0.5


class StartFailed(CfError):
    """The app did not come up; the CLI stops it so nothing half-broken keeps running."""


def wait_staged(cc: CcClient, guid: str, console: Console, timeout: float,
                clock: Callable[[], float] = time.monotonic) -> dict:
    deadline = clock() + timeout
    announced = False
    with console.status("Staging...", spinner="dots") as status:
        while True:
            app = cc.get_app(guid)
            state = app["entity"]["package_state"]
            if state != "PENDING":
                break
            if not announced:
                status.update("Staging (the DEA runs the buildpacks)...")
                announced = True
            if clock() > deadline:
                raise StartFailed(f"Staging did not finish within {timeout:.0f} s")
            time.sleep(POLL)
    log = cc.staging_log(guid)
    if log.get("log"):
        console.print("[bold]Staging log:[/bold]")
        for line in log["log"].rstrip().splitlines():
            console.print(f"  {line}", markup=False, highlight=False)
    if state == "FAILED":
        raise StartFailed(f"Staging failed: {log.get('staging_failed_description') or 'unknown error'}"
                          f" ({log.get('staging_failed_reason')})")
    entity = app["entity"]
    console.print(f"Staged: buildpack {entity.get('detected_buildpack') or '?'}, "
                  f"start command: {entity.get('detected_start_command') or '?'}", highlight=False)
    return app


def wait_running(cc: CcClient, guid: str, console: Console, timeout: float, since: float,
                 clock: Callable[[], float] = time.monotonic) -> dict:
    """Until every desired instance is RUNNING. ``since``: wall-clock time the start was
    asked for; crashes of the current version after it fail the wait."""
    deadline = clock() + timeout
    last_line = ""
    with console.status("Starting instances...", spinner="dots") as status:
        while True:
            app = cc.get_app(guid)
            entity = app["entity"]
            wanted = entity["instances"]
            if entity["state"] != "STARTED":
                raise StartFailed(f"App {entity['name']} was stopped while starting")
            instances = cc.instances(guid)
            states = [v.get("state") for k, v in sorted(instances.items(), key=lambda kv: int(kv[0]))]
            running = states.count("RUNNING")
            line = _summary(states, wanted)
            if line != last_line:
                console.print(line, highlight=False)
                status.update(line)
                last_line = line
            crashes = [c for c in cc.crashes(guid) if c.get("current_version") and c.get("since", 0) >= since - 1]
            if crashes:
                raise StartFailed(_crash_message(cc, guid, entity["name"], crashes[-1]))
            if running >= wanted:
                return app
            if clock() > deadline:
                raise StartFailed(f"Only {running} of {wanted} instances of {entity['name']} are running after "
                                  f"{timeout:.0f} s ({line}). See `cf-py logs {entity['name']} --recent`.")
            time.sleep(POLL)


def _summary(states: list, wanted: int) -> str:
    counts: dict[str, int] = {}
    for s in states:
        counts[str(s).lower()] = counts.get(str(s).lower(), 0) + 1
    running = counts.pop("running", 0)
    rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"{running} of {wanted} instances running" + (f", {rest}" if rest else "")


def _crash_message(cc: CcClient, guid: str, name: str, crash: dict) -> str:
    message = (f"Instance {crash.get('index')} of {name} crashed: "
               f"{crash.get('exit_description') or 'exited'}"
               + (f" (exit status {crash['exit_status']})" if crash.get("exit_status") is not None else ""))
    entry = _crashed_instance_logs(cc, guid, crash)
    output = ((entry.get("stderr") or "") + (entry.get("stdout") or "")) if entry else ""
    lines = output.rstrip().splitlines()[-15:]
    if not lines:
        return message
    return message + "\nLast output of the instance:\n" + "\n".join(f"  {line}" for line in lines)


def _crashed_instance_logs(cc: CcClient, guid: str, crash: dict, attempts: int = 3) -> dict | None:
    """The crashed instance's own log entry. Matched by instance id, not index: the health
    manager may already have started a new instance under the same index, with no output yet.
    Asked again a few times, as a busy DEA may answer after the CC stopped listening."""
    for attempt in range(attempts):
        try:
            entries = cc.logs(guid)
        except CfError:
            entries = []
        if crash.get("instance"):
            found = [e for e in entries if e.get("instance") == crash["instance"]]
        else:
            found = [e for e in entries if e.get("index") == crash.get("index")]
        if found:
            return found[-1]
        if attempt + 1 < attempts:
            time.sleep(POLL)
    return None
