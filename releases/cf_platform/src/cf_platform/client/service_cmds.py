"""cf-py's service commands, named as the cf CLI names them: create-service-broker,
service-brokers, delete-service-broker, marketplace, create-service, services, bind-service,
unbind-service, delete-service."""

from __future__ import annotations

import json
import os
import time

import click
from rich.table import Table

from . import config as cfg
from .errors import CfError
from .main import Context, pass_ctx
from .service_client import ServiceClient

POLL = 1.0


def _parameters(raw: str | None) -> dict:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise CfError(f"-c: the parameters are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise CfError("-c: the parameters must be a JSON object")
    return value


@click.command("create-service-broker")
@click.argument("name")
@click.argument("username")
@click.argument("password")
@click.argument("url")
@pass_ctx
def create_service_broker(ctx: Context, name: str, username: str, password: str, url: str) -> None:
    """Register a service broker. PASSWORD '-' reads it from CF_PY_BROKER_PASSWORD (or a
    prompt), which keeps it out of the process list."""
    if password == "-":
        password = os.environ.get("CF_PY_BROKER_PASSWORD") or click.prompt("Broker password", hide_input=True)
    with ctx.client() as cc:
        ctx.out.print(f"Creating service broker {name}...")
        ServiceClient(cc).create_broker(name, username, password, url)
        ctx.out.print("OK")


@click.command("service-brokers")
@pass_ctx
def service_brokers(ctx: Context) -> None:
    """List the service brokers."""
    with ctx.client() as cc:
        brokers = ServiceClient(cc).brokers()
        if not brokers:
            ctx.out.print("No service brokers found")
            return
        table = Table("name", "url", box=None, pad_edge=False)
        for b in brokers:
            table.add_row(b["entity"]["name"], b["entity"]["broker_url"])
        ctx.out.print(table)


@click.command("delete-service-broker")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@pass_ctx
def delete_service_broker(ctx: Context, name: str, force: bool) -> None:
    """Remove a service broker (refused while it has service instances)."""
    with ctx.client() as cc:
        services = ServiceClient(cc)
        broker = services.broker(name)
        if not force and not click.confirm(f"Really delete the service broker {name}?", default=False):
            ctx.out.print("Delete cancelled")
            return
        services.delete_broker(broker["metadata"]["guid"])
        ctx.out.print(f"Deleted service broker {name}")


@click.command("marketplace")
@pass_ctx
def marketplace(ctx: Context) -> None:
    """List the services and plans the brokers offer."""
    with ctx.client() as cc:
        services = ServiceClient(cc).services()
        if not services:
            ctx.out.print("No service offerings found")
            return
        table = Table("service", "plans", "description", box=None, pad_edge=False)
        for s in services:
            e = s["entity"]
            table.add_row(e["label"], ", ".join(p["entity"]["name"] for p in e["service_plans"]), e["description"])
        ctx.out.print(table)


def _wait(services: ServiceClient, guid: str, timeout: float) -> dict | None:
    """Until the instance's last operation ends; None when it is gone (a finished delete)."""
    deadline = time.monotonic() + timeout
    while True:
        instance = services.get_instance(guid)
        if instance is None or instance["entity"]["last_operation"]["state"] != "in progress":
            return instance
        if time.monotonic() > deadline:
            raise CfError(f"The operation did not finish within {timeout:g} s (see `cf-py services`)")
        time.sleep(POLL)


def _operation_outcome(instance: dict | None, what: str, name: str) -> str:
    if instance is None:
        return "OK"
    op = instance["entity"]["last_operation"]
    if op["state"] == "failed":
        raise CfError(f"{what} of service instance {name} failed: {op.get('description') or 'no reason given'}")
    if op["state"] == "in progress":
        return f"{what} in progress. Use `cf-py services` to see when it is done."
    return "OK"


@click.command("create-service")
@click.argument("service")
@click.argument("plan")
@click.argument("name")
@click.option("-c", "parameters", help="Parameters for the broker, as a JSON object")
@click.option("--wait", is_flag=True, help="Wait until the broker has finished")
@click.option("-t", "--timeout", type=int, default=600, show_default=True, help="Seconds to --wait")
@pass_ctx
def create_service(ctx: Context, service: str, plan: str, name: str, parameters: str | None, wait: bool,
                   timeout: int) -> None:
    """Create service instance NAME of SERVICE's PLAN in the targeted space."""
    params = _parameters(parameters)
    target = cfg.load()
    where = f" in org {target.org} / space {target.space}" if target.space_guid else ""
    with ctx.client() as cc:
        services = ServiceClient(cc)
        plan_guid = services.plan(service, plan)["metadata"]["guid"]
        ctx.out.print(f"Creating service instance {name}{where}...")
        instance: dict | None = services.create_instance(name, plan_guid, params, target.space_guid)
        if wait:
            assert instance is not None
            instance = _wait(services, instance["metadata"]["guid"], timeout)
        ctx.out.print(_operation_outcome(instance, "Create", name))


@click.command("services")
@pass_ctx
def services_cmd(ctx: Context) -> None:
    """List the service instances (of the targeted space, if one is targeted), their plans,
    bound apps and last operation."""
    space_guid = cfg.load().space_guid
    with ctx.client() as cc:
        services = ServiceClient(cc)
        instances = services.instances(space_guid)
        if not instances:
            ctx.out.print("No services found")
            return
        app_names = {a["metadata"]["guid"]: a["entity"]["name"] for a in cc.apps()}
        table = Table("name", "service", "plan", "bound apps", "last operation", box=None, pad_edge=False)
        for i in instances:
            e = i["entity"]
            bound = [app_names.get(b["entity"]["app_guid"], "?")
                     for b in services.bindings(instance_guid=i["metadata"]["guid"])]
            op = e["last_operation"]
            table.add_row(e["name"], e.get("service_label") or "?", e.get("service_plan_name") or "?",
                          ", ".join(sorted(bound)), f"{op['type']} {op['state']}")
        ctx.out.print(table)


@click.command("bind-service")
@click.argument("app_name")
@click.argument("name")
@click.option("-c", "parameters", help="Parameters for the broker, as a JSON object")
@pass_ctx
def bind_service(ctx: Context, app_name: str, name: str, parameters: str | None) -> None:
    """Bind service instance NAME to APP_NAME (the app sees it after a restart)."""
    params = _parameters(parameters)
    with ctx.client() as cc:
        services = ServiceClient(cc)
        app = cc.app(app_name)
        instance = services.instance(name)
        ctx.out.print(f"Binding service {name} to app {app_name}...")
        services.bind(app["metadata"]["guid"], instance["metadata"]["guid"], params)
        ctx.out.print("OK")
        ctx.out.print(f"TIP: Use `cf-py restart {app_name}` so the app sees the binding in VCAP_SERVICES")


@click.command("unbind-service")
@click.argument("app_name")
@click.argument("name")
@pass_ctx
def unbind_service(ctx: Context, app_name: str, name: str) -> None:
    """Unbind service instance NAME from APP_NAME (the broker revokes its credentials)."""
    with ctx.client() as cc:
        services = ServiceClient(cc)
        app = cc.app(app_name)
        instance = services.instance(name)
        found = services.bindings(app_guid=app["metadata"]["guid"], instance_guid=instance["metadata"]["guid"])
        if not found:
            ctx.out.print(f"Binding between {name} and {app_name} did not exist")
            return
        ctx.out.print(f"Unbinding app {app_name} from service {name}...")
        services.unbind(found[0]["metadata"]["guid"])
        ctx.out.print("OK")


@click.command("delete-service")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option("--wait", is_flag=True, help="Wait until the broker has finished")
@click.option("-t", "--timeout", type=int, default=600, show_default=True, help="Seconds to --wait")
@pass_ctx
def delete_service(ctx: Context, name: str, force: bool, wait: bool, timeout: int) -> None:
    """Delete service instance NAME (the broker deletes its data)."""
    with ctx.client() as cc:
        services = ServiceClient(cc)
        instance = services.instance(name)
        if not force and not click.confirm(f"Really delete the service {name}?", default=False):
            ctx.out.print("Delete cancelled")
            return
        ctx.out.print(f"Deleting service {name}...")
        left = services.delete_instance(instance["metadata"]["guid"])
        if wait and left is not None:
            left = _wait(services, instance["metadata"]["guid"], timeout)
        ctx.out.print(_operation_outcome(left, "Delete", name))


COMMANDS = [create_service_broker, service_brokers, delete_service_broker, marketplace, create_service,
            services_cmd, bind_service, unbind_service, delete_service]
