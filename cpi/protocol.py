"""BOSH's external CPI protocol, shared by every bosh-py CPI executable (``cpi/local``,
``cpi/libcloud``): the error types the wire names, the call log that becomes the response's
``log``, and one request text in, one response out.

A method raises one of the errors; ``handle`` turns it into the response's ``error`` object,
so the director can tell a missing VM from a failed create and decide whether to retry. A
CPI call never fails as a process: a bug is still an answer (``CloudError``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterable


# BOSH's CPI methods every bosh-py CPI has, one module each under ``<cpi>/methods/`` (as
# bosh-agent has one file per action); a CPI may add its own (``extra`` below).
CORE_METHODS = (
    "info", "create_stemcell", "delete_stemcell",
    "create_vm", "delete_vm", "has_vm", "reboot_vm", "set_vm_metadata",
    "create_disk", "delete_disk", "has_disk", "attach_disk", "detach_disk", "get_disks",
    "resize_disk", "snapshot_disk", "delete_snapshot",
)


def find_method(package: str, name: str, extra: tuple[str, ...] = ()) -> ModuleType | None:
    """The module ``<package>.<name>`` implementing a method, or None for one the CPI lacks."""
    if name not in CORE_METHODS + extra:
        return None
    return importlib.import_module(f"{package}.{name}")


class CpiFailure(Exception):
    """Base: ``error_type`` goes on the wire, ``str(self)`` is the message."""

    error_type = "CpiError"

    def __init__(self, message: str, ok_to_retry: bool = False) -> None:
        super().__init__(message)
        self.ok_to_retry = ok_to_retry


class CloudError(CpiFailure):
    error_type = "CloudError"


class NotImplementedFailure(CpiFailure):
    error_type = "NotImplemented"


class VMNotFound(CpiFailure):
    error_type = "VMNotFound"


class VMCreationFailed(CpiFailure):
    error_type = "VMCreationFailed"


class DiskNotFound(CpiFailure):
    error_type = "DiskNotFound"


class DiskNotAttached(CpiFailure):
    error_type = "DiskNotAttached"


class InvalidCall(CpiFailure):
    """The request or the CPI config is wrong (bad JSON, wrong arguments, bad property)."""

    error_type = "InvalidCall"


@dataclass
class CallLog:
    """Lines for the response's ``log`` field (the director prints them in debug logs)."""

    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


REDACTED = "<redacted>"


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def respond(result: Any = None, error: CpiFailure | None = None, log: str = "",
            secrets: Iterable[str] = ()) -> dict:
    secrets = list(secrets)
    failure = None
    if error is not None:
        failure = {"type": error.error_type, "message": redact(str(error), secrets),
                   "ok_to_retry": error.ok_to_retry}
    return {"result": result, "error": failure, "log": redact(log, secrets)}


@dataclass(frozen=True)
class Cpi:
    """What differs between CPIs: how to read the config, find a method, build its context,
    and which config values are secrets that must never leave the process."""

    load_config: Callable[[str | None], Any]
    method_module: Callable[[str], ModuleType | None]
    make_context: Callable[[Any, CallLog, dict], Any]
    secrets_of: Callable[[Any], Iterable[str]] = lambda _config: ()


def handle(cpi: Cpi, raw: str, config_path: str | None) -> dict:
    """Turn one request text into one response dict; never raises."""
    log = CallLog()
    secrets: list[str] = []
    try:
        try:
            request = json.loads(raw)
        except ValueError as error:
            raise InvalidCall(f"request is not valid JSON: {error}") from error
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            raise InvalidCall("request must be an object with a string 'method'")
        arguments = request.get("arguments") or []
        if not isinstance(arguments, list):
            raise InvalidCall("'arguments' must be a list")
        module = cpi.method_module(request["method"])
        if module is None:
            raise NotImplementedFailure(f"Must call implemented method: {request['method']}")
        config = cpi.load_config(config_path)
        secrets = list(cpi.secrets_of(config))
        ctx = cpi.make_context(config, log, request.get("context") or {})
        try:
            inspect.signature(module.run).bind(ctx, *arguments)
        except TypeError as error:
            raise InvalidCall(f"{request['method']}: wrong arguments: {error}") from error
        return respond(module.run(ctx, *arguments), log=log.text(), secrets=secrets)
    except CpiFailure as failure:
        return respond(error=failure, log=log.text(), secrets=secrets)
    except Exception as error:  # noqa: BLE001 - a bug or an unexpected host failure: still a CPI answer
        log(traceback.format_exc())
        return respond(error=CloudError(f"{type(error).__name__}: {error}"), log=log.text(), secrets=secrets)


def serve_one_call(cpi: Cpi, config_path: str | None) -> int:
    """The executable's whole job: one request on stdin, one response on stdout, exit 0."""
    response = handle(cpi, sys.stdin.read(), config_path)
    sys.stdout.write(json.dumps(response) + "\n")
    sys.stdout.flush()
    return 0
