"""`bosh-py`: the operator's command line, a thin client of the director API."""

from __future__ import annotations

import click

from bosh_py.cli import cck_cmds, login_cmds
from bosh_py.cli import cpi_cmds, deployment_cmds, errand_cmds, release_cmds, release_dev_cmds, ssh_cmds, task_cmds
from bosh_py.cli.common import run_cli
from bosh_py.cli.director_cmds import director_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="bosh-py")
def cli() -> None:
    """bosh-py: deploy and run BOSH-style releases on VMs through a CPI."""


cli.add_command(director_group)
for module in (deployment_cmds, release_cmds, release_dev_cmds, task_cmds, ssh_cmds, cpi_cmds, errand_cmds,
               cck_cmds, login_cmds):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    run_cli(cli)
