"""Several CPIs at once (BOSH's cpi-config): update-cpi-config, cpi-config, cpis, and
delete-stemcell, which deletes a stemcell's copy in every CPI (it belongs beside
upload-stemcell in release_cmds.py; it lives here until that file is free to edit)."""

from __future__ import annotations

import sys

import click
import yaml

from bosh_py.cli.common import (
    client,
    confirm,
    follow,
    render_input,
    vars_options,
    yes_option,
)
from bosh_py.cli.output import console, print_table
from bosh_py.errors import BoshPyError


@click.command("update-cpi-config")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@vars_options
def update_cpi_config(path: str, var_kvs, vars_files, ops_files) -> None:  # type: ignore[no-untyped-def]
    """Upload a cpi-config (cpis: name, type, exec_path, properties); ((vars)) come from -v/-l."""
    doc, _ = render_input(path, var_kvs, vars_files, ops_files, strict=True)
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    result = client().post("/configs", json={"type": "cpi", "content": text})
    console.print("CPI config updated" if result["changed"] else "CPI config unchanged")


@click.command("cpi-config")
def cpi_config() -> None:
    """Print the current cpi-config, credentials redacted."""
    configs = client().get("/configs", type="cpi")
    if not configs:
        console.print("No cpi-config uploaded: the director's own CPI is the only one")
        sys.exit(1)
    sys.stdout.write(configs[0]["content"])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def cpis(as_json: bool) -> None:
    """List the CPIs: name, type, stemcell formats (from each CPI's info), what each holds."""
    rows = client().get("/cpis")
    table = [[r["name"], r["type"], ", ".join(r["stemcell_formats"]) or (f"error: {r['error']}" if r["error"] else ""),
              r["stemcells"], r["vms"], r["disks"] + r["orphaned_disks"]] for r in rows]
    print_table("CPIs", ["Name", "Type", "Stemcell formats", "Stemcells", "VMs", "Disks"], table, as_json, rows)


@click.command("delete-stemcell")
@yes_option
@click.argument("name_version", metavar="NAME/VERSION")
def delete_stemcell(yes: bool, name_version: str) -> None:
    """Delete a stemcell no deployment uses: its copy in every CPI that holds one."""
    name, _, version = name_version.partition("/")
    if not name or not version:
        raise BoshPyError(f"Expected NAME/VERSION (as `bosh-py stemcells` lists them), got '{name_version}'")
    confirm(yes)
    director = client()
    follow(director, director.delete(f"/stemcells/{name}/{version}"))


COMMANDS = [update_cpi_config, cpi_config, cpis, delete_stemcell]
