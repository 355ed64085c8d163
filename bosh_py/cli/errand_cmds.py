"""`bosh-py errands` and `bosh-py run-errand` (BOSH CLI's names and flags).

run-errand follows the task, prints each run's instance, job, exit code, stdout and stderr
(as the director got them), downloads the errand jobs' logs with ``--download-logs``, and
exits 1 when any run exited non-zero or could not run, naming the instance and exit code.
"""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import click

from bosh_py.cli.common import client, deployment_option, follow, json_option
from bosh_py.cli.output import console, print_table
from bosh_py.errors import BoshPyError


@click.command()
@deployment_option
@json_option
def errands(deployment: str, as_json: bool) -> None:
    """List the deployment's errands: jobs with bin/run and lifecycle-errand instance groups."""
    rows = client().get(f"/deployments/{deployment}/errands")
    if as_json:
        console.print_json(json.dumps(rows))
        return
    print_table(None, ["Name"], [[row["name"]] for row in rows])


def _print_run(run: dict) -> None:
    console.print(f"Instance   {run['instance']} ({run['index']})", markup=False)
    console.print(f"Job        {run['job']}", markup=False)
    console.print(f"Exit Code  {run['exit_code'] if run['exit_code'] is not None else '-'}", markup=False)
    if run.get("error"):
        console.print(f"Error      {run['error']}", markup=False)
    console.print("Stdout     " + (run["stdout"].rstrip("\n") or "-"), markup=False)
    console.print("Stderr     " + (run["stderr"].rstrip("\n") or "-"), markup=False)
    console.print("")


def _download(director, deployment: str, run: dict, directory: Path) -> None:  # type: ignore[no-untyped-def]
    blob_id = run["logs_blob_id"]
    name = f"{deployment}.{run['instance'].replace('/', '.')}.{run['job']}-{time.strftime('%Y%m%d-%H%M%S')}.tgz"
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / name
    director.download(f"/errand_logs/{blob_id}", dest)
    director.delete(f"/errand_logs/{blob_id}")  # the director keeps no copy
    try:
        with tarfile.open(dest) as archive:
            count = sum(1 for member in archive.getmembers() if member.isfile())
    except tarfile.TarError as error:
        raise BoshPyError(f"Downloaded errand logs are not a valid tarball: {error}") from error
    console.print(f"Downloading resource '{blob_id}' to '{dest}' ({count} files)", markup=False)


@click.command("run-errand")
@deployment_option
@click.argument("name")
@click.option("--instance", "instances", multiple=True,
              help="Run on this instance only: GROUP or GROUP/ID or GROUP/INDEX (repeatable)")
@click.option("--keep-alive", is_flag=True, help="Keep the errand's VMs after it ran (lifecycle errand groups)")
@click.option("--download-logs", is_flag=True, help="Download the errand jobs' logs")
@click.option("--logs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Where --download-logs writes the tarballs")
@click.option("--timeout", type=click.FloatRange(min=1, max=7 * 24 * 3600), default=None,
              help="Seconds each bin/run may take before it is killed")
@json_option
def run_errand(deployment: str, name: str, instances: tuple[str, ...], keep_alive: bool, download_logs: bool,
               logs_dir: Path, timeout: float | None, as_json: bool) -> None:
    """Run errand NAME: a job with bin/run, or an instance group with lifecycle errand."""
    director = client()
    body: dict = {"instances": list(instances), "keep_alive": keep_alive, "download_logs": download_logs}
    if timeout is not None:
        body["timeout"] = timeout
    final = follow(director, director.post(f"/deployments/{deployment}/errands/{name}/runs", json=body))
    result = json.loads(final["result"] or "{}")
    runs = result.get("runs") or []
    if as_json:
        console.print_json(json.dumps(runs))
    else:
        console.print("")
        for run in runs:
            _print_run(run)
    for run in runs:
        if run.get("logs_blob_id"):
            _download(director, deployment, run, logs_dir)
    failed = [r for r in runs if r.get("error") or r.get("exit_code") != 0]
    if failed:
        detail = "; ".join(f"{r['instance']} ({r['index']}) job {r['job']}: "
                           + (f"exit code {r['exit_code']}" if r.get("exit_code") is not None else str(r.get("error")))
                           for r in failed)
        raise BoshPyError(f"Errand '{name}' completed with error: {detail}")
    console.print(f"Errand '{name}' completed successfully ({len(runs)} run(s))", markup=False)


COMMANDS = [errands, run_errand]
