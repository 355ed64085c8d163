"""The CLI imports a command's module only when that command runs (bosh_py/cli/main.py)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from bosh_py.cli import main
from tests.harness import REPO

MODULES = ("deployment_cmds", "release_cmds", "release_dev_cmds", "task_cmds", "ssh_cmds", "cpi_cmds",
           "errand_cmds", "cck_cmds", "login_cmds", "director_cmds")


def test_the_command_map_names_every_command_of_every_module_and_nothing_else():
    defined = {name: module for module in MODULES for name in main.commands_of(module)}
    assert defined == main.COMMAND_MODULES


def test_help_lists_every_command():
    result = CliRunner().invoke(main.cli, ["--help"])
    assert result.exit_code == 0
    for name in ("deploy", "cancel-task", "director", "run-errand", "update-resurrection"):
        assert f"  {name} " in result.output


def test_a_command_imports_neither_the_others_nor_the_manifest_models():
    probe = ("import sys; from bosh_py.cli.main import cli; cli(['tasks', '--help'], standalone_mode=False); "
             "print(sorted(m for m in sys.modules if m.startswith(('bosh_py.cli.', 'bosh_py.manifest', 'paramiko', "
             "'jinja2', 'aiohttp'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "bosh_py.cli.task_cmds" in loaded
    for heavy in ("bosh_py.cli.deployment_cmds", "bosh_py.manifest", "paramiko", "jinja2", "aiohttp"):
        assert f"'{heavy}" not in loaded, loaded
