"""`bosh-py cck`, `bosh-py orphaned-vms` and `bosh-py update-resurrection` (BOSH CLI's
names; docs/health.md).

``cck -d D`` scans and prints the problems, changing nothing; ``--auto`` applies each
problem type's automatic resolution (never one that loses data); ``--resolution
TYPE=RESOLUTION`` (repeatable) picks one per type. It exits 1 when problems are left
unresolved, so a script can tell a clean deployment from one that needs a person.
"""

from __future__ import annotations

import json

import click

from bosh_py.cli.common import client, follow, json_option
from bosh_py.cli.output import print_table
from bosh_py.director.cck.problems import IGNORE, ResolutionError, parse_resolutions
from bosh_py.errors import BoshPyError


@click.command()
@click.option("-d", "--deployment", envvar="BOSH_DEPLOYMENT", required=True, help="Deployment name (or BOSH_DEPLOYMENT)")
@click.option("--auto", is_flag=True, help="Resolve each problem with its type's automatic resolution")
@click.option("--resolution", "resolutions", multiple=True, metavar="TYPE=RESOLUTION",
              help="Resolve problems of TYPE this way, e.g. missing_vm=recreate_vm (repeatable)")
@click.option("--report", is_flag=True, help="Only report the problems (the default without --auto/--resolution)")
@json_option
def cck(deployment: str, auto: bool, resolutions: tuple[str, ...], report: bool, as_json: bool) -> None:
    """Cloud check: find and resolve differences between the director's records and the IaaS."""
    try:
        chosen = parse_resolutions(list(resolutions))
    except ResolutionError as error:
        raise BoshPyError(f"--resolution: {error}") from None
    resolving = (auto or bool(chosen)) and not report
    director = client()
    if resolving:
        task = director.post(f"/deployments/{deployment}/problems", json={"auto": auto, "resolutions": chosen})
    else:
        task = director.post(f"/deployments/{deployment}/scans", json={})
    final = follow(director, task)
    problems = json.loads(final["result"] or "{}").get("problems") or []
    print_table(f"{len(problems)} problem(s)", ["Type", "Instance", "Resource", "Description", "Resolution",
                                                 "Resolutions"],
                [[p["type"], p["instance"] or "-", p["resource"] or "-", p["description"],
                  p["resolution"] or "-", ", ".join(p["resolutions"])] for p in problems], as_json, problems)
    left = [p for p in problems if p.get("resolution") in (None, IGNORE)]
    if left:
        raise BoshPyError(f"{len(left)} problem(s) left unresolved in deployment '{deployment}'")


@click.command("orphaned-vms")
@json_option
def orphaned_vms(as_json: bool) -> None:
    """VMs the director made that no instance holds (cck deletes them)."""
    rows = client().get("/orphaned_vms")
    print_table(None, ["VM CID", "IP", "Deployment", "Instance", "CPI", "Agent ID", "Created"],
                [[r["cid"] or "(not saved)", r["ip"] or "-", r["deployment"] or "-", r["instance"] or "-", r["cpi"],
                  r["agent_id"], r["created_at"]] for r in rows], as_json, rows)


@click.command("update-resurrection")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("-d", "--deployment", default=None, help="Only this deployment (default: every deployment)")
@click.option("--instance-group", default=None, help="Only this instance group of the deployment")
@json_option
def update_resurrection(state: str, deployment: str | None, instance_group: str | None, as_json: bool) -> None:
    """Let the resurrector recreate VMs (on) or not (off)."""
    if instance_group and not deployment:
        raise BoshPyError("--instance-group needs -d DEPLOYMENT")
    rows = client().put("/resurrection", json={"resurrection": state, "deployment": deployment,
                                               "instance_group": instance_group})
    print_table("Resurrection", ["Deployment", "Instance Group", "Resurrection"],
                [[r["deployment"] or "(all)", r["instance_group"] or "(all)", r["resurrection"]] for r in rows],
                as_json, rows)


COMMANDS = [cck, orphaned_vms, update_resurrection]
