"""Deployment commands: deploy, interpolate, cloud-config, runtime-config, deployments, instances, vms,
delete-deployment, and the instance actions start/stop/restart/recreate."""

from __future__ import annotations

import sys
import time

import click
import yaml

from bosh_py.cli.common import (client, confirm, deployment_option, follow, json_option, render_input,
                                render_input_with_values, vars_options, yes_option)
from bosh_py.cli.output import console, print_table
from bosh_py.errors import BoshPyError
from bosh_py.manifest.update import check_flag


def _count_flag(flag: str, value: str | None) -> int | str | None:
    """``3`` or ``25%``, checked here so a typo fails before the diff is shown."""
    if value is None:
        return None
    try:
        return check_flag(flag, int(value) if value.strip().isdigit() else value)
    except ValueError as error:
        raise click.BadParameter(str(error).removeprefix(f"{flag}: "), param_hint=flag) from None


def _dump(doc: object) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


@click.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@vars_options
@click.option("--path", "var_path", default=None, help="Print only the value at this path, e.g. /name")
def interpolate(manifest: str, var_kvs, vars_files, ops_files, var_path: str | None) -> None:  # type: ignore[no-untyped-def]
    """Print a manifest with ops files applied and variables filled in."""
    doc, _ = render_input(manifest, var_kvs, vars_files, ops_files, strict=True)
    if var_path:
        for step in [s for s in var_path.split("/") if s]:
            doc = doc[int(step)] if isinstance(doc, list) else doc[step]
    sys.stdout.write(_dump(doc) if isinstance(doc, (dict, list)) else f"{doc}\n")


@click.command("update-cloud-config")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@vars_options
@yes_option
def update_cloud_config(path: str, var_kvs, vars_files, ops_files, yes: bool) -> None:  # type: ignore[no-untyped-def]
    """Upload a cloud-config (azs, networks, vm_types, disk_types, compilation)."""
    doc, _ = render_input(path, var_kvs, vars_files, ops_files, strict=True)
    result = client().post("/configs", json={"type": "cloud", "content": _dump(doc)})
    console.print("Cloud config updated" if result["changed"] else "Cloud config unchanged")


@click.command("cloud-config")
def cloud_config() -> None:
    """Print the current cloud-config."""
    configs = client().get("/configs")
    if not configs:
        console.print("No cloud-config uploaded")
        sys.exit(1)
    sys.stdout.write(configs[0]["content"])


@click.command("update-runtime-config")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", default="default", show_default=True, help="Which runtime-config (each name is kept apart)")
@vars_options
@yes_option
def update_runtime_config(path: str, name: str, var_kvs, vars_files, ops_files, yes: bool) -> None:  # type: ignore[no-untyped-def]
    """Upload a runtime-config: releases and addons added to every deployment at its next deploy.

    Placeholders left unfilled here are filled from each deployment's credentials at deploy."""
    doc, _ = render_input(path, var_kvs, vars_files, ops_files, strict=False)
    result = client().post("/configs", json={"type": "runtime", "name": name, "content": _dump(doc)})
    console.print(f"Runtime config '{name}' {'updated' if result['changed'] else 'unchanged'}")


@click.command("runtime-config")
@click.option("--name", default="default", show_default=True)
def runtime_config(name: str) -> None:
    """Print a runtime-config in force."""
    configs = client().get("/configs", type="runtime", name=name)
    if not configs:
        console.print(f"No runtime-config '{name}' uploaded")
        sys.exit(1)
    sys.stdout.write(configs[0]["content"])


@click.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@vars_options
@yes_option
@click.option("--recreate", is_flag=True, help="Recreate every VM")
@click.option("--fix", is_flag=True, help="Recreate instances whose agent does not answer instead of failing")
@click.option("--skip-drain", is_flag=True, help="Stop jobs without running their drain scripts")
@click.option("--canaries", metavar="N|N%", help="Override every instance group's update.canaries")
@click.option("--max-in-flight", metavar="N|N%", help="Override every instance group's update.max_in_flight")
@click.option("--dry-run", is_flag=True,
              help="Plan, render and validate; print what would happen to each instance and why; change nothing")
@click.option("--no-redact", is_flag=True,
              help="Show property values in the diff (stored secrets and -v/-l/--var-file values stay hidden)")
def deploy(manifest: str, var_kvs, vars_files, ops_files, yes: bool, recreate: bool, fix: bool,  # type: ignore[no-untyped-def]
           skip_drain: bool, canaries: str | None, max_in_flight: str | None, dry_run: bool, no_redact: bool) -> None:
    """Deploy a manifest: show the diff, then converge the deployment on it."""
    counts = {"canaries": _count_flag("--canaries", canaries),
              "max_in_flight": _count_flag("--max-in-flight", max_in_flight)}
    doc, _, given = render_input_with_values(manifest, var_kvs, vars_files, ops_files, strict=False)
    text = _dump(doc)
    director = client()
    diff = director.post("/deployments/diff", json={"manifest": text, "redact": not no_redact,
                                                    "cli_variables": given})["diff"]
    if diff:
        for line in diff:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(line, style=style, markup=False)
        confirm(yes)
    else:
        console.print("No manifest changes")
    task = director.post("/deployments", json={"manifest": text, "recreate": recreate, "dry_run": dry_run,
                                               "fix": fix, "skip_drain": skip_drain, "cli_variables": given,
                                               **{k: v for k, v in counts.items() if v is not None}})
    follow(director, task)


@click.command()
@json_option
def deployments(as_json: bool) -> None:
    """List deployments."""
    rows = client().get("/deployments")
    print_table("Deployments", ["Name", "Release(s)", "Stemcell(s)", "Instances"],
                [[r["name"], "\n".join(r["releases"]), "\n".join(r["stemcells"]), r["instances"]] for r in rows],
                as_json, rows)


@click.command("delete-deployment")
@deployment_option
@yes_option
@click.option("--force", is_flag=True, help="Ignore errors deleting VMs and disks")
def delete_deployment(deployment: str, yes: bool, force: bool) -> None:
    """Delete a deployment: its VMs and records; its persistent disks are kept as orphans."""
    confirm(yes)
    director = client()
    follow(director, director.delete(f"/deployments/{deployment}", params={"force": str(force).lower()}))


def _vitals(v: dict) -> list[str]:
    load = v.get("load") or []
    cpu = v.get("cpu") or {}
    mem = v.get("mem") or {}
    disk = (v.get("disk") or {})
    return [", ".join(str(x) for x in load),
            f"{cpu.get('user', '')}%us {cpu.get('sys', '')}%sy" if cpu else "",
            f"{mem.get('percent', '')}% ({mem.get('kb', '')} kB)" if mem else "",
            f"{(disk.get('system') or {}).get('percent', '')}%" if disk else "",
            f"{(disk.get('persistent') or {}).get('percent', '')}%" if disk.get("persistent") else ""]


@click.command()
@deployment_option
@click.option("--ps", is_flag=True, help="Show processes")
@click.option("--vitals", is_flag=True, help="Show vitals")
@json_option
def instances(deployment: str, ps: bool, vitals: bool, as_json: bool) -> None:
    """List the deployment's instances with their state."""
    rows = client().get(f"/deployments/{deployment}/instances")
    columns = ["Instance", "Process", "Process State", "AZ", "IPs"]
    if vitals:
        columns += ["Load (1m, 5m, 15m)", "CPU", "Memory", "System Disk", "Persistent Disk"]
    table = []
    for row in rows:
        line = [row["instance"] + (" (bootstrap)" if row.get("bootstrap") else ""), "", row["process_state"],
                row["az"] or "", "\n".join(row["ips"])]
        table.append(line + (_vitals(row["vitals"]) if vitals else []))
        if ps:
            for process in row["processes"]:
                table.append(["", process.get("name"), process.get("state"), "", ""] + ([""] * 5 if vitals else []))
    print_table(f"Deployment '{deployment}'", columns, table, as_json, rows)


@click.command()
@deployment_option
@click.option("--vitals", is_flag=True, help="Show vitals")
@json_option
def vms(deployment: str, vitals: bool, as_json: bool) -> None:
    """List the deployment's VMs."""
    rows = client().get(f"/deployments/{deployment}/instances")
    columns = ["Instance", "Process State", "AZ", "IPs", "VM CID", "CPI"]
    if vitals:
        columns += ["Load (1m, 5m, 15m)", "CPU", "Memory", "System Disk", "Persistent Disk"]
    table = [[r["instance"], r["process_state"], r["az"] or "", "\n".join(r["ips"]), r["vm_cid"] or "", r.get("cpi") or ""]
             + (_vitals(r["vitals"]) if vitals else []) for r in rows if r["vm_cid"]]
    print_table(f"Deployment '{deployment}'", columns, table, as_json,
                [{k: r.get(k) for k in ("instance", "process_state", "az", "ips", "vm_cid", "cpi", "agent_id", "vitals")}
                 for r in rows if r["vm_cid"]])


@click.command()
@deployment_option
@json_option
def variables(deployment: str, as_json: bool) -> None:
    """List the names of the deployment's stored variables (never their values)."""
    rows = client().get(f"/deployments/{deployment}/variables")
    print_table("Variables", ["Name"], [[r["name"]] for r in rows], as_json, rows)


@click.command("get-variable")
@deployment_option
@click.argument("name")
def get_variable(deployment: str, name: str) -> None:
    """Print one stored variable's value (asked for by name)."""
    value = client().get(f"/deployments/{deployment}/variables/{name}")["value"]
    sys.stdout.write(_dump(value) if isinstance(value, (dict, list)) else f"{value}\n")


@click.command()
@click.option("--orphaned", is_flag=True, help="List orphaned disks (the only listing so far)")
@json_option
def disks(orphaned: bool, as_json: bool) -> None:
    """List persistent disks kept after their instance or disk went away (--orphaned)."""
    if not orphaned:
        raise BoshPyError("`bosh-py disks` lists orphaned disks only: add --orphaned "
                          "(`bosh-py instances -d NAME` shows the disks in use)")
    rows = client().get("/disks", orphaned="true")
    print_table("Orphaned disks", ["Disk CID", "CPI", "Size (MB)", "Deployment", "Instance", "AZ", "Orphaned at"],
                [[r["disk_cid"], r.get("cpi") or "", r["size"], r["deployment"], r["instance"], r["az"] or "",
                  time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(r["orphaned_at"]))] for r in rows],
                as_json, rows)


@click.command("delete-disk")
@yes_option
@click.argument("disk_cid")
def delete_disk(yes: bool, disk_cid: str) -> None:
    """Delete an orphaned disk and its data now (otherwise it goes after max_orphaned_age_in_days)."""
    confirm(yes)
    director = client()
    follow(director, director.delete(f"/disks/{disk_cid}"))


@click.command("attach-disk")
@deployment_option
@click.argument("instance")
@click.argument("disk_cid")
def attach_disk(deployment: str, instance: str, disk_cid: str) -> None:
    """Attach an orphaned disk to an instance (GROUP/ID); its current disk is orphaned."""
    director = client()
    follow(director, director.put(f"/disks/{disk_cid}/attachments",
                                  json={"deployment": deployment, "instance": instance}))


def _instance_action(action: str):  # type: ignore[no-untyped-def]
    """start/stop/restart/recreate; restart and recreate roll out like a deploy and take its
    --canaries, --max-in-flight and --dry-run (recreate also --fix, as BOSH's)."""
    rolls_out = action in ("restart", "recreate")

    @click.command(action, help=f"{action.capitalize()} instances: all, a group, or GROUP/ID|INDEX."
                   + (" Canaries first, then each AZ in batches of max_in_flight, as a deploy." if rolls_out else ""))
    @deployment_option
    @yes_option
    @click.argument("instance", required=False)
    def command(deployment: str, yes: bool, instance: str | None, skip_drain: bool = False,
                canaries: str | None = None, max_in_flight: str | None = None, dry_run: bool = False,
                fix: bool = False) -> None:
        counts = {"canaries": _count_flag("--canaries", canaries),
                  "max_in_flight": _count_flag("--max-in-flight", max_in_flight)}
        if action in ("stop", "recreate") and not dry_run:
            confirm(yes)
        body: dict = {"action": action, "instance": instance, "skip_drain": skip_drain,
                      **{k: v for k, v in counts.items() if v is not None}}
        if dry_run:
            body["dry_run"] = True
        if fix:
            body["fix"] = True
        director = client()
        follow(director, director.post(f"/deployments/{deployment}/instances/action", json=body))

    if action == "recreate":
        command = click.option("--fix", is_flag=True,
                               help="Recreate instances whose agent does not answer instead of failing")(command)
    if rolls_out:
        dry_run_help = ("Print the plan: each instance and why; touch nothing" if action == "recreate"
                        else "Print which instances would go in which batch; touch nothing")
        command = click.option("--dry-run", is_flag=True, help=dry_run_help)(command)
        command = click.option("--max-in-flight", metavar="N|N%",
                               help="Override every instance group's update.max_in_flight")(command)
        command = click.option("--canaries", metavar="N|N%",
                               help="Override every instance group's update.canaries")(command)
    if action != "start":  # what stops jobs can skip their drain scripts
        command = click.option("--skip-drain", is_flag=True, help="Stop jobs without running their drain scripts")(command)
    return command


start, stop, restart, recreate = (_instance_action(a) for a in ("start", "stop", "restart", "recreate"))
COMMANDS = [interpolate, update_cloud_config, cloud_config, update_runtime_config, runtime_config, deploy,
            deployments, delete_deployment, instances, vms,
            start, stop, restart, recreate, variables, get_variable, disks, delete_disk,
            attach_disk]
