"""``cf-py``: target a cloud controller, log in, push and manage apps."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import config as cfg
from . import uaa_client
from .cc_client import CcClient
from .errors import CfError
from .units import human_bytes, human_duration, megabytes
from .waiting import StartFailed, wait_running, wait_staged
from .zipper import zip_directory


class Context:
    """What every command shares: the saved target, and consoles for output and errors."""

    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def client(self) -> CcClient:
        """A client with a live token: an access token about to expire is renewed first with
        the refresh token (UAA), and the new pair saved."""
        conf = self.logged_in()
        assert conf.api and conf.token
        return CcClient(conf.api, conf.token, space_guid=conf.space_guid)

    def logged_in(self) -> cfg.ClientConfig:
        conf = cfg.load()
        if not conf.api:
            raise CfError("No API endpoint set: run `cf-py api URL` first")
        if not conf.token:
            raise CfError(f"Not logged in to {conf.api}: run `cf-py login`")
        if conf.token_endpoint and conf.refresh_token and uaa_client.expires_soon(conf.token):
            token = uaa_client.refresh_grant(conf.token_endpoint, conf.refresh_token)
            conf.token = token["access_token"]
            conf.refresh_token = token.get("refresh_token") or conf.refresh_token
            cfg.save(conf)
        return conf


pass_ctx = click.make_pass_decorator(Context, ensure=True)


class CfGroup(click.Group):
    """Every CfError becomes ``Error: <message>`` on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CfError as e:
            Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]Error:[/red] {e}")
            sys.exit(1)


@click.group(cls=CfGroup)
def cli() -> None:
    """The client of bosh-py's Cloud Foundry (a `cf` v6 look-alike)."""


@cli.command()
@click.argument("url", required=False)
@pass_ctx
def api(ctx: Context, url: str | None) -> None:
    """Set (or show) the cloud controller's URL, e.g. http://10.244.0.5:9022."""
    conf = cfg.load()
    if url is None:
        ctx.out.print(f"API endpoint: {conf.api or '(not set)'}" + (f" (user {conf.user})" if conf.user else ""))
        return
    if "://" not in url:
        url = "http://" + url
    with CcClient(url) as cc:
        info = cc.info()
    changed = url.rstrip("/") != (conf.api or "")
    conf.api = url.rstrip("/")
    if changed:
        conf.forget_login()
        conf.token_endpoint = None
    cfg.save(conf)
    ctx.out.print(f"API endpoint: {conf.api} (API version {info.get('api_version')}, domain {info.get('app_domain')})")
    if changed:
        ctx.out.print("Not logged in: run `cf-py login`")


@cli.command()
@click.option("-a", "--api", "api_url", help="Set the API endpoint first")
@click.option("-u", "--username", prompt="Username")
@click.option("-p", "--password", prompt="Password", hide_input=True, envvar="CF_PY_PASSWORD",
              help="Password (or CF_PY_PASSWORD, which keeps it out of the process list)")
@pass_ctx
def login(ctx: Context, api_url: str | None, username: str, password: str) -> None:
    """Log in (password grant, as the public `cf` client) at the token endpoint the API names:
    its UAA, or the cloud controller itself when it has none; saves the access and refresh
    tokens."""
    conf = cfg.load()
    if api_url:
        conf.api = (api_url if "://" in api_url else "http://" + api_url).rstrip("/")
    if not conf.api:
        raise CfError("No API endpoint set: run `cf-py api URL` or pass --api")
    with CcClient(conf.api) as cc:
        endpoint = str(cc.info().get("token_endpoint") or conf.api).rstrip("/")
    token = uaa_client.password_grant(endpoint, username, password)
    if username != conf.user:
        conf.forget_login()           # another user: another target
    conf.token, conf.user = token["access_token"], username
    conf.refresh_token = token.get("refresh_token")   # none from the CC's built-in issuer
    conf.token_endpoint = endpoint
    path = cfg.save(conf)
    ctx.out.print(f"Logged in to {conf.api} as {username} (token saved in {path})")


@cli.command()
@pass_ctx
def logout(ctx: Context) -> None:
    """Forget the saved tokens and target org and space."""
    conf = cfg.load()
    conf.forget_login()
    cfg.save(conf)
    ctx.out.print("Logged out")


@cli.command()
@click.argument("name")
@click.option("-p", "--path", "path", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="The app's directory (default: the current one)")
@click.option("-i", "--instances", type=int, help="Number of instances")
@click.option("-m", "--memory", help="Memory per instance, e.g. 128M or 1G")
@click.option("-b", "--buildpack", help="Buildpack name (default: detected)")
@click.option("--no-start", is_flag=True, help="Upload but do not start")
@click.option("--timeout", default=180, show_default=True, help="Seconds to wait for staging and for instances")
@pass_ctx
def push(ctx: Context, name: str, path: Path, instances: int | None, memory: str | None, buildpack: str | None,
         no_start: bool, timeout: int) -> None:
    """Create or update app NAME from a directory, route it at NAME.<domain>, stage and start it."""
    if instances is not None and instances < 0:
        raise CfError("Instances must be 0 or more")
    mem = megabytes(memory) if memory else None
    bits, files = zip_directory(path)
    space_guid = cfg.load().space_guid
    with ctx.client() as cc:
        app = cc.find_app(name)
        body: dict = {}
        if instances is not None:
            body["instances"] = instances
        if mem is not None:
            body["memory"] = mem
        if buildpack is not None:
            body["buildpack"] = buildpack
        if app is None:
            ctx.out.print(f"Creating app {name}...")
            if space_guid:
                body["space_guid"] = space_guid
            app = cc.create_app({"name": name, "state": "STOPPED", **body})
        else:
            ctx.out.print(f"Updating app {name}...")
            if app["entity"]["state"] == "STARTED":
                body["state"] = "STOPPED"   # new bits: stop, upload, start (as `cf push` does)
            if body:
                app = cc.update_app(app["metadata"]["guid"], body)
        guid = app["metadata"]["guid"]
        url = _ensure_route(ctx, cc, guid, name)
        ctx.out.print(f"Uploading {name} ({files} file{'' if files == 1 else 's'}, {human_bytes(len(bits))})...")
        cc.upload_bits(guid, bits)
        if no_start:
            ctx.out.print(f"Uploaded {name}; not started (--no-start). Route: {url}")
            return
        _start_and_wait(ctx, cc, guid, name, timeout)
        ctx.out.print(f"[green]App {name} is running[/green]: http://{url}")


def _ensure_route(ctx: Context, cc: CcClient, guid: str, host: str) -> str:
    domain = cc.shared_domain()
    url = f"{host}.{domain['entity']['name']}"
    route = cc.find_route(host)
    if route is None:
        ctx.out.print(f"Creating route {url}...")
        route = cc.create_route(host, domain["metadata"]["guid"])
    bound = route["entity"].get("app_guids") or []
    if guid in bound:
        return url
    if bound:
        raise CfError(f"The route {url} is already bound to another app")
    ctx.out.print(f"Binding {url} to {host}...")
    cc.bind_route(guid, route["metadata"]["guid"])
    return url


def _start_and_wait(ctx: Context, cc: CcClient, guid: str, name: str, timeout: int) -> dict:
    ctx.out.print(f"Starting {name}...")
    cc.update_app(guid, {"state": "STARTED"})
    try:
        wait_staged(cc, guid, ctx.out, timeout)
        # starting gives the app a new version: every crash of it is a crash of this start
        return wait_running(cc, guid, ctx.out, timeout, since=0)
    except StartFailed as e:
        try:
            cc.update_app(guid, {"state": "STOPPED"})
            note = f"\nApp {name} was stopped; fix it and push again."
        except CfError:
            note = ""
        raise CfError(f"{e}{note}") from None


@cli.command()
@pass_ctx
def apps(ctx: Context) -> None:
    """List the apps (of the targeted space, if one is targeted)."""
    with ctx.client() as cc:
        resources = cc.apps(cfg.load().space_guid)
        if not resources:
            ctx.out.print("No apps")
            return
        table = Table("name", "requested state", "instances", "memory", "urls", box=None, pad_edge=False)
        for a in resources:
            e = a["entity"]
            table.add_row(e["name"], e["state"].lower(), f"{_running(cc, a)}/{e['instances']}", f"{e['memory']}M",
                          ", ".join(e.get("uris") or []))
        ctx.out.print(table)


def _running(cc: CcClient, app: dict) -> str:
    e = app["entity"]
    if e["state"] != "STARTED" or e["package_state"] != "STAGED":
        return "0" if e["state"] != "STARTED" else "?"
    try:
        return str(sum(1 for v in cc.instances(app["metadata"]["guid"]).values() if v.get("state") == "RUNNING"))
    except CfError:
        return "?"


@cli.command("app")
@click.argument("name")
@pass_ctx
def app_cmd(ctx: Context, name: str) -> None:
    """Show app NAME and its instances (state, host, port, uptime, memory)."""
    with ctx.client() as cc:
        app = cc.app(name)
        e = app["entity"]
        guid = app["metadata"]["guid"]
        ctx.out.print(f"[bold]{e['name']}[/bold]  requested state: {e['state'].lower()}  "
                      f"package: {e['package_state'].lower()}  instances: {e['instances']}  memory: {e['memory']}M")
        ctx.out.print(f"urls: {', '.join(e.get('uris') or []) or '-'}")
        ctx.out.print(f"buildpack: {e.get('detected_buildpack') or e.get('buildpack') or '-'}")
        if e["state"] != "STARTED":
            ctx.out.print("The app is stopped")
            return
        if e["package_state"] == "FAILED":
            ctx.out.print(f"Staging failed: {e.get('staging_failed_description')}")
            return
        if e["package_state"] == "PENDING":
            ctx.out.print("Staging...")
            return
        stats = cc.stats(guid)
        table = Table("#", "state", "since", "host", "port", "uptime", "memory", "cpu", box=None, pad_edge=False)
        now = time.time()
        instances = cc.instances(guid)
        for index in sorted(stats, key=int):
            s = stats[index].get("stats") or {}
            usage = s.get("usage") or {}
            since = (instances.get(index) or {}).get("since")
            mem = f"{human_bytes(usage.get('mem'))} of {human_bytes(s.get('mem_quota'))}" if s else "-"
            cpu = f"{usage['cpu']:.1f}%" if isinstance(usage.get("cpu"), (int, float)) else "-"
            table.add_row(index, str(stats[index].get("state", "-")).lower(), _when(since, now),
                          str(s.get("host") or "-"), str(s.get("port") or "-"), human_duration(s.get("uptime")),
                          mem, cpu)
        ctx.out.print(table)


def _when(ts: float | None, now: float) -> str:
    if not isinstance(ts, (int, float)):
        return "-"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@cli.command()
@click.argument("name")
@click.option("-i", "--instances", type=int, help="Number of instances")
@click.option("-m", "--memory", help="Memory per instance (restarts the app)")
@click.option("--timeout", default=180, show_default=True)
@pass_ctx
def scale(ctx: Context, name: str, instances: int | None, memory: str | None, timeout: int) -> None:
    """Change the number of instances or the memory of app NAME."""
    if instances is None and memory is None:
        raise CfError("Nothing to scale: give -i and/or -m")
    body: dict = {}
    if instances is not None:
        body["instances"] = instances
    if memory is not None:
        body["memory"] = megabytes(memory)
    with ctx.client() as cc:
        app = cc.app(name)
        since = time.time()
        app = cc.update_app(app["metadata"]["guid"], body)
        e = app["entity"]
        ctx.out.print(f"Scaled {name}: {e['instances']} instances, {e['memory']}M each")
        if e["state"] == "STARTED" and e["package_state"] == "STAGED":
            wait_running(cc, app["metadata"]["guid"], ctx.out, timeout, since)
            ctx.out.print(f"[green]{e['instances']} of {e['instances']} instances running[/green]")


@cli.command()
@click.argument("name")
@pass_ctx
def stop(ctx: Context, name: str) -> None:
    """Stop app NAME (all its instances)."""
    with ctx.client() as cc:
        app = cc.app(name)
        cc.update_app(app["metadata"]["guid"], {"state": "STOPPED"})
        ctx.out.print(f"Stopped {name}")


@cli.command()
@click.argument("name")
@click.option("--timeout", default=180, show_default=True)
@pass_ctx
def start(ctx: Context, name: str, timeout: int) -> None:
    """Start app NAME and wait until its instances run."""
    with ctx.client() as cc:
        app = cc.app(name)
        if app["entity"]["state"] == "STARTED":
            ctx.out.print(f"App {name} is already started")
            return
        _start_and_wait(ctx, cc, app["metadata"]["guid"], name, timeout)
        ctx.out.print(f"[green]App {name} is running[/green]")


@cli.command()
@click.argument("name")
@click.option("--timeout", default=180, show_default=True)
@pass_ctx
def restart(ctx: Context, name: str, timeout: int) -> None:
    """Stop and start app NAME."""
    with ctx.client() as cc:
        app = cc.app(name)
        guid = app["metadata"]["guid"]
        if app["entity"]["state"] == "STARTED":
            cc.update_app(guid, {"state": "STOPPED"})
            ctx.out.print(f"Stopped {name}")
        _start_and_wait(ctx, cc, guid, name, timeout)
        ctx.out.print(f"[green]App {name} is running[/green]")


@cli.command()
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@pass_ctx
def delete(ctx: Context, name: str, force: bool) -> None:
    """Delete app NAME, its instances, bits, droplet and routes."""
    with ctx.client() as cc:
        app = cc.app(name)
        if not force and not click.confirm(f"Really delete the app {name}?", default=False):
            ctx.out.print("Delete cancelled")
            return
        cc.delete_app(app["metadata"]["guid"])
        ctx.out.print(f"Deleted app {name}")


@cli.command()
@click.argument("name")
@click.option("--recent", is_flag=True, help="Print the log server's recent lines instead of streaming")
@pass_ctx
def logs(ctx: Context, name: str, recent: bool) -> None:
    """Stream app NAME's logs live (Ctrl-C ends), or print the recent ones (logs_cmds.py)."""
    from .logs_cmds import show_logs
    show_logs(ctx, name, recent)


# last: the service and tenancy commands use Context and pass_ctx from above
from .service_cmds import COMMANDS as SERVICE_COMMANDS
from .tenancy_cmds import COMMANDS as TENANCY_COMMANDS

for _command in (*SERVICE_COMMANDS, *TENANCY_COMMANDS):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="cf-py")


if __name__ == "__main__":
    main()
