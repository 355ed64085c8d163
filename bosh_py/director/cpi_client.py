"""Calling a CPI: one process per call, JSON on stdin, JSON on stdout (BOSH's external CPI).

The director knows a CPI only as an executable and a config path, so the local CPI and a
cloud CPI are driven the same way.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bosh_py.director.metrics import cpi_call_timer
from bosh_py.errors import BoshPyError


class CpiError(BoshPyError):
    """A CPI call failed; ``type`` is the wire error type as the CPI sent it. Catch a
    subclass (``except VMNotFound``) rather than comparing ``type`` strings."""

    def __init__(self, method: str, error_type: str, message: str, ok_to_retry: bool = False) -> None:
        super().__init__(f"CPI '{method}' failed: {error_type}: {message}")
        self.method = method
        self.type = error_type
        self.ok_to_retry = ok_to_retry


class CloudError(CpiError):
    """The cloud failed in a way the CPI has no better name for (BOSH's Bosh::Clouds::CloudError)."""


class VMNotFound(CpiError):
    """The VM the call named does not exist (deleting it again is not an error)."""


class DiskNotFound(CpiError):
    """The disk the call named does not exist."""


class DiskNotAttached(CpiError):
    """The disk exists but is not attached to the VM the call named."""


class VMCreationFailed(CpiError):
    """create_vm made no VM (a CPI leaves nothing behind when it says so)."""


class NotImplemented(CpiError):  # BOSH's name for it; shadows the builtin only in this module
    """The CPI does not have that method."""


class InvalidCall(CpiError):
    """The director sent a request or a CPI config the CPI refuses."""


# Wire type -> class. Our CPIs send the short names (cpi/protocol.py); BOSH's CPIs send
# "Bosh::Clouds::<Name>", so both spellings map to the same class.
ERROR_CLASSES: dict[str, type[CpiError]] = {
    cls.__name__: cls
    for cls in (CloudError, VMNotFound, DiskNotFound, DiskNotAttached, VMCreationFailed, NotImplemented, InvalidCall)
}


def cpi_error(method: str, error_type: str, message: str, ok_to_retry: bool = False) -> CpiError:
    """The typed error for a CPI's ``error`` object; an unknown type stays a plain ``CpiError``."""
    short = error_type.rsplit("::", 1)[-1] if error_type.startswith("Bosh::Clouds::") else error_type
    return ERROR_CLASSES.get(short, CpiError)(method, error_type, message, ok_to_retry)


@dataclass
class CpiClient:
    executable: str
    config_path: str | None
    director_uuid: str
    debug: Callable[[str], None] = lambda _line: None
    retries: int = 2

    async def call(self, method: str, *arguments: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                with cpi_call_timer(method):
                    return await self._call_once(method, list(arguments))
            except CpiError as error:
                if not error.ok_to_retry or attempt == self.retries:
                    raise
                self.debug(f"CPI {method} failed, retrying: {error}")
        raise AssertionError("unreachable")

    async def _call_once(self, method: str, arguments: list[Any]) -> Any:
        request = {
            "method": method,
            "arguments": arguments,
            "context": {"director_uuid": self.director_uuid, "request_id": uuid.uuid4().hex[:12]},
            "api_version": 2,
        }
        argv = [self.executable] + ([self.config_path] if self.config_path else [])
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True,
            )
        except OSError as error:
            raise CpiError(method, "CpiError", f"cannot run CPI '{self.executable}': {error}") from error
        stdout, stderr = await process.communicate(json.dumps(request).encode())
        if stderr:
            self.debug(f"CPI {method} stderr: {stderr.decode(errors='replace').strip()[-2000:]}")
        try:
            response = json.loads(stdout)
        except ValueError as error:
            raise CpiError(method, "CpiError",
                           f"invalid response (exit {process.returncode}): {stdout[:500]!r}") from error
        if response.get("log"):
            self.debug(f"CPI {method} log: {str(response['log']).strip()[-2000:]}")
        failure = response.get("error")
        if failure:
            raise cpi_error(method, str(failure.get("type") or "CpiError"), str(failure.get("message", "")),
                            bool(failure.get("ok_to_retry")))
        return response.get("result")
