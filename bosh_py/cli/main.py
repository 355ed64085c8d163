"""`bosh-py`: the operator's command line, a thin client of the director API.

Commands are imported when they run, not all at start: every command would otherwise pay for
the imports of all (paramiko, jinja2, the manifest models, aiohttp: about a second), and
rollouts, scripts and the tests run the CLI many times.
"""

from __future__ import annotations

import importlib

import click

from bosh_py.cli.common import run_cli

# command -> the bosh_py.cli module defining it (tests/cli/test_cli_lazy.py keeps this true)
COMMAND_MODULES: dict[str, str] = {
    **{name: "deployment_cmds" for name in (
        "interpolate", "update-cloud-config", "cloud-config", "update-runtime-config", "runtime-config", "deploy",
        "deployments", "delete-deployment", "instances", "vms", "start", "stop", "restart", "recreate",
        "variables", "get-variable", "disks", "delete-disk", "attach-disk")},
    **{name: "release_cmds" for name in (
        "upload-release", "releases", "upload-stemcell", "stemcells", "delete-stemcell", "stemcell",
        "inspect-release", "delete-release", "clean-up", "export-release")},
    **{name: "release_dev_cmds" for name in ("create-release", "vendor-package")},
    **{name: "task_cmds" for name in ("tasks", "task", "cancel-task", "locks", "events")},
    **{name: "ssh_cmds" for name in ("ssh", "scp", "logs")},
    **{name: "cpi_cmds" for name in ("update-cpi-config", "cpi-config", "cpis")},
    **{name: "errand_cmds" for name in ("errands", "run-errand")},
    **{name: "cck_cmds" for name in ("cck", "orphaned-vms", "update-resurrection")},
    **{name: "login_cmds" for name in ("login", "logout")},
    "director": "director_cmds",
}


def commands_of(module_name: str) -> dict[str, click.Command]:
    module = importlib.import_module(f"bosh_py.cli.{module_name}")
    commands = getattr(module, "COMMANDS", None) or [module.director_group]
    return {command.name: command for command in commands if command.name}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        return commands_of(module_name).get(cmd_name) if module_name else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="bosh-py")
def cli() -> None:
    """bosh-py: deploy and run BOSH-style releases on VMs through a CPI."""


def main() -> None:
    run_cli(cli)
