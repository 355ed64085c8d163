"""Options and helpers every command shares: -d, -n, --json, vars flags, task following."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.markup import escape

from bosh_py.cli.client import DirectorClient
from bosh_py.cli.config import load_cli_config
from bosh_py.cli.output import TaskPrinter, console, err_console
from bosh_py.errors import BoshPyError

deployment_option = click.option("-d", "--deployment", envvar="BOSH_DEPLOYMENT", required=True,
                                 help="Deployment name (or BOSH_DEPLOYMENT)")
yes_option = click.option("-n", "--non-interactive", "yes", is_flag=True, help="Don't ask for confirmation")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON")


VAR_FILES_META = "bosh_py.var_files"  # where --var-file leaves its {name: file content}


def _read_var_files(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
    """``--var-file NAME=PATH``: the variable's value is the file's text, as in the BOSH CLI
    (a certificate or key kept in a file rather than typed on the command line)."""
    found: dict[str, str] = {}
    for argument in values:
        name, sep, path = argument.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"expected NAME=PATH, found '{argument}'", param_hint="--var-file")
        try:
            found[name] = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise click.BadParameter(f"{name}: cannot read '{path}': {error}", param_hint="--var-file") from None
    ctx.meta[VAR_FILES_META] = found


def vars_options(func: Callable) -> Callable:
    func = click.option("--var-file", multiple=True, expose_value=False, callback=_read_var_files,
                        metavar="NAME=PATH", help="Set variable NAME to the text of the file PATH")(func)
    func = click.option("-v", "--var", "var_kvs", multiple=True, help="Set variable: NAME=VALUE")(func)
    func = click.option("-l", "--vars-file", "vars_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                        help="Load variables from a YAML file")(func)
    func = click.option("-o", "--ops-file", "ops_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                        help="Apply a go-patch ops file")(func)
    return func


def render_input(path: str, var_kvs: tuple[str, ...], vars_files: tuple[str, ...], ops_files: tuple[str, ...],
                 strict: bool) -> tuple[dict, list[str]]:
    """Ops files first, then variables, as the BOSH CLI does; returns (doc, missing names)."""
    doc, missing, _ = render_input_with_values(path, var_kvs, vars_files, ops_files, strict)
    return doc, missing


def render_input_with_values(path: str, var_kvs: tuple[str, ...], vars_files: tuple[str, ...],
                             ops_files: tuple[str, ...], strict: bool) -> tuple[dict, list[str], dict[str, Any]]:
    """As :func:`render_input`, plus the values of the variables the document used (name →
    value): the director is told them so that it keeps them as secrets (a deploy's diff and
    log tails), since once interpolated it could not tell them from any other string.
    Precedence as the BOSH CLI: ``-v`` beats ``--var-file``, which beats ``-l`` files."""
    # here, not at the top: only the commands that read a manifest pay for its models
    from bosh_py.manifest import apply_ops, find_variable_names, interpolate, load_yaml_file, merge_variable_sources

    doc = load_yaml_file(path)
    for ops_path in ops_files:
        doc = apply_ops(doc, load_yaml_file(ops_path, kind="list"), ops_path)
    context = click.get_current_context(silent=True)
    from_files = dict(context.meta.get(VAR_FILES_META, {})) if context else {}
    variables = merge_variable_sources(var_kvs, [*(load_yaml_file(f) for f in vars_files), from_files])
    used = {name: variables[name] for name in find_variable_names(doc) if name in variables}
    rendered, missing = interpolate(doc, variables, path, strict=strict)
    return rendered, missing, used


def client() -> DirectorClient:
    return DirectorClient(load_cli_config())


def confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise BoshPyError("Refusing to continue without confirmation: pass -n to answer yes")
    if not click.confirm("Continue?", default=False):
        raise BoshPyError("Stopped")


def follow(director: DirectorClient, task: dict) -> dict:
    """Print a task's progress until it ends; a failed task is exit code 1."""
    console.print(f"Task {task['id']}")
    final = director.follow_task(task["id"], TaskPrinter())
    console.print(f"\nTask {final['id']} {final['state']}")
    if final["state"] != "done":
        raise BoshPyError(f"Task {final['id']} {final['state']}")
    return final


def run_cli(main: Callable[..., Any]) -> None:
    try:
        main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("Aborted")
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(1)
    except BoshPyError as error:
        err_console.print(f"[red]Error:[/red] {escape(str(error))}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
