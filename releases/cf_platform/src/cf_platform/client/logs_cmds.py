"""``cf-py logs APP [--recent]``: the app's lines as the cf CLI printed loggregator's.

Streams live from the log server until Ctrl-C; ``--recent`` prints its buffer. A platform
without a log server (no ``logging_endpoint`` in /v2/info) still gets the instances' recent
output through the cloud controller, as before.
"""

from __future__ import annotations

from cf_platform.log_server.log_line import format_line

from . import config as cfg
from .errors import CfError
from .log_client import LogClient, LogStreamNotice


def show_logs(ctx, name: str, recent: bool) -> None:  # ctx: main.Context (imported lazily there)
    with ctx.client() as cc:
        app = cc.app(name)
        guid = app["metadata"]["guid"]
        endpoint = cc.info().get("logging_endpoint")
        if not endpoint:
            ctx.err.print("(this platform has no log server: showing the instances' recent output)")
            _recent_through_cc(ctx, cc, guid, name)
            return
    token = cfg.load().token or ""
    client = LogClient(endpoint, token)
    if recent:
        for line in client.recent(guid):
            ctx.out.print(format_line(line), markup=False, highlight=False)
        return
    ctx.out.print(f"Connected, tailing logs for app {name}...", markup=False)
    try:
        for item in client.stream(guid):
            if isinstance(item, int):
                ctx.err.print(f"(the log server dropped {item} lines: this client read too slowly)")
            else:
                ctx.out.print(format_line(item), markup=False, highlight=False)
    except LogStreamNotice as notice:
        raise CfError(f"The log server ended the stream: {notice}") from None
    except KeyboardInterrupt:
        return
    raise CfError("The log server closed the stream")


def _recent_through_cc(ctx, cc, guid: str, name: str) -> None:
    entries = cc.logs(guid)
    if not entries:
        ctx.out.print(f"No instances of {name} answered (is it started?)")
        return
    for entry in entries:
        ctx.out.print(f"[bold]== instance {entry.get('index')} ({str(entry.get('state')).lower()}, "
                      f"{entry.get('instance')}) ==[/bold]")
        for stream, tag in (("stdout", "OUT"), ("stderr", "ERR")):
            for line in (entry.get(stream) or "").rstrip("\n").splitlines():
                ctx.out.print(f"[APP/{entry.get('index')}] {tag} {line}", markup=False)
