"""Several CPIs at once (BOSH's cpi-config): update-cpi-config, cpi-config, cpis."""

from __future__ import annotations

import sys

import click
import yaml

from bosh_py.cli.common import (
    client,
    render_input,
    vars_options,
)
from bosh_py.cli.output import console, print_table


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


COMMANDS = [update_cpi_config, cpi_config, cpis]
