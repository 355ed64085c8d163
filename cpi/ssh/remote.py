"""Reaching one of the operator's machines with fabric, pinned to the host key of the config:
a machine presenting another key is refused with an error naming it, never trusted on
first use. Failures become CPI errors naming the machine."""

from __future__ import annotations

import json
from typing import Any

from bosh_py.errors import BoshPyError
from bosh_py.ssh.pinned_fabric import (
    open_pinned,
    pinned_connection,
    private_key,
    public_key,
)
from cpi.protocol import CloudError, CpiFailure
from cpi.ssh import machine_scripts
from cpi.ssh.config import Machine

REFUSED = 3  # machine_scripts' exit status for "refused, reason on stderr"


class MachineRefused(CpiFailure):
    """The machine said no (not free, a mount that will not go away): not worth a retry."""

    error_type = "CloudError"


def describe(machine: Machine) -> str:
    return f"machine '{machine.name}' ({machine.address}:{machine.port})"


def run_program(machine: Machine, program: str, args: dict[str, Any], timeout: float = 300) -> dict:
    """Run one of machine_scripts' programs on ``machine``; its JSON answer."""
    try:
        pkey = private_key(machine.private_key, f"machine '{machine.name}' private_key")
        host_key = public_key(machine.host_key, f"machine '{machine.name}' host_key")
        connection = pinned_connection(machine.address, pkey, host_key, user=machine.user, port=machine.port)
        with open_pinned(connection, f"machine '{machine.name}'") as opened:
            result = opened.run(machine_scripts.command(program, args, sudo=machine.user != "root"),
                                hide=True, warn=True, in_stream=False, timeout=timeout)
    except BoshPyError as error:
        raise CloudError(str(error)) from error
    except Exception as error:
        raise CloudError(f"{describe(machine)}: {program} failed: {type(error).__name__}: {error}") from error
    if result.exited == REFUSED:
        raise MachineRefused(f"{describe(machine)}: {result.stderr.strip()[-1000:]}")
    if result.exited != 0:
        raise CloudError(f"{describe(machine)}: {program} exited {result.exited}: {result.stderr.strip()[-1000:]}")
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise CloudError(f"{describe(machine)}: {program} gave no answer") from error
    return answer if isinstance(answer, dict) else {}
