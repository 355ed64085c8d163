"""Calling a CPI: one process per call, JSON on stdin, JSON on stdout (BOSH's external CPI).

The director knows a CPI only as an executable and a config path, so the local CPI and a
cloud CPI are driven the same way.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from bosh_py.errors import BoshPyError


class CpiError(BoshPyError):
    def __init__(self, method: str, error_type: str, message: str, ok_to_retry: bool = False) -> None:
        super().__init__(f"CPI '{method}' failed: {error_type}: {message}")
        self.method = method
        self.type = error_type
        self.ok_to_retry = ok_to_retry


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
            raise CpiError(method, failure.get("type", "CpiError"), failure.get("message", ""),
                           bool(failure.get("ok_to_retry")))
        return response.get("result")
