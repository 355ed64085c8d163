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


def test_deploy_reads_and_interpolates_a_manifest_without_the_pydantic_models(tmp_path):
    """`deploy` renders its manifest (-o, -v) before the director sees it; the models that
    check it are the director's, ~0.35 s of import the CLI used to pay on every deploy."""
    (tmp_path / "m.yml").write_text("name: ((name))\ninstance_groups: []\n")
    (tmp_path / "ops.yml").write_text("- type: replace\n  path: /extra?\n  value: 1\n")
    probe = ("import sys, click; from bosh_py.cli.main import cli; cli(['deploy', '--help'], standalone_mode=False)\n"
             "from bosh_py.cli.common import render_input_with_values\n"
             "with click.Context(click.Command('deploy')):\n"
             f"    doc, _, _ = render_input_with_values('{tmp_path}/m.yml', ('name=web',), (), ('{tmp_path}/ops.yml',), True)\n"
             "print(doc, sorted(m for m in sys.modules if m.startswith(('pydantic', 'bosh_py.manifest.models'))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "{'name': 'web', 'instance_groups': [], 'extra': 1} []" in out, out


def test_the_manifest_package_still_gives_every_name_it_lists():
    import bosh_py.manifest as manifest
    from bosh_py.manifest.interpolate import interpolate  # the submodule's import must not shadow the function

    assert manifest.interpolate is interpolate and callable(manifest.diff)
    for name in manifest.__all__:
        assert getattr(manifest, name) is not None, name
    try:
        manifest.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("an unknown name must be an AttributeError")
