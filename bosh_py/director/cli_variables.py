"""Values the CLI interpolated from ``-v``, ``-l`` and ``--var-file``, kept as secrets.

The CLI fills those placeholders before the manifest reaches the director, so without
being told the director cannot tell a password typed on the command line from any other
string: it would show it in the diff and in a failing job's log tail. The CLI therefore
sends the values of the variables the manifest used (``cli_variables``, name → value), and
the director treats them as it treats its stored variables: redacted in the diff and
scrubbed from log tails, for this deploy and for later tasks on the deployment (a recreate
or the resurrector's scan-and-fix runs jobs configured with them).

They are kept in the credential store (table ``variables``) under ``cli:<name>``: a colon
cannot appear in a ``((placeholder))``, so no manifest can be interpolated from them, and
every reader of the store (the log-tail scrub, the diff) picks them up with no change.
Each holds the list of every value the deployment was given for that name: instances
that a failed deploy left on an older value must still have it scrubbed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from bosh_py.director.api_errors import ApiError
from bosh_py.director.models import Variable
from bosh_py.director.services import Director
from bosh_py.manifest.diff import secret_values

PREFIX = "cli:"
FIELD = "cli_variables"
MAX_VARIABLES = 1000  # more than any manifest uses; bounds what one request may store
NAME_LENGTH = 255 - len(PREFIX)


def cli_variables_field(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's ``cli_variables`` (absent: none), refused with a message naming it."""
    value = body.get(FIELD)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(f"{FIELD}: expected an object of variable name to value")
    if len(value) > MAX_VARIABLES:
        raise ApiError(f"{FIELD}: at most {MAX_VARIABLES} variables, found {len(value)}")
    for name in value:
        if not name or len(name) > NAME_LENGTH:
            raise ApiError(f"{FIELD}: variable names must be 1 to {NAME_LENGTH} characters")
    return dict(value)


def with_cli_secrets(known: list[str], values: Mapping[str, Any]) -> list[str]:
    """``known`` secret strings plus every string leaf of ``values``."""
    return sorted({*known, *secret_values(values)})


def remember(director: Director, deployment: str, values: Mapping[str, Any]) -> None:
    """Add ``values`` to the deployment's kept command-line secrets (never drop one)."""
    if not values:
        return
    with director.sessions.begin() as session:
        rows = {row.name: row for row in session.scalars(select(Variable).where(
            Variable.deployment_name == deployment, Variable.name.startswith(PREFIX)))}
        for name, value in values.items():
            row = rows.get(PREFIX + name)
            if row is None:
                session.add(Variable(deployment_name=deployment, name=PREFIX + name, value={"value": [value]}))
            elif value not in row.value["value"]:
                row.value = {"value": [*row.value["value"], value]}
