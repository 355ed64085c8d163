"""The log server from the client's side: recent lines and the live stream (NDJSON).

The log server's address comes from the cloud controller's ``/v2/info``
(``logging_endpoint``, as CF v2's info carried loggregator's); the user's own bearer token
goes with each request and the log server asks the CC whether it may read the app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from cf_platform.log_server.log_line import BadLine, LogLine, parse_line

from .errors import CfError


class LogStreamNotice(Exception):
    """The server ended the stream with a reason (a revoked token, say)."""


def _refusal(endpoint: str, response: httpx.Response) -> CfError:
    try:
        reason = response.json().get("error") or ""
    except ValueError:
        reason = response.text.strip()
    if response.status_code == 401:
        return CfError(f"The log server at {endpoint} refused the token ({reason}): run `cf-py login`")
    return CfError(f"The log server at {endpoint} answered {response.status_code}: {reason}")


class LogClient:
    def __init__(self, endpoint: str, token: str, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.headers = {"Authorization": f"bearer {token}"}
        self.timeout = timeout

    def recent(self, guid: str) -> list[LogLine]:
        try:
            response = httpx.get(f"{self.endpoint}/v1/apps/{guid}/recent", headers=self.headers, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise CfError(f"Cannot reach the log server at {self.endpoint}: {error}") from None
        if response.status_code != 200:
            raise _refusal(self.endpoint, response)
        return [line for line in map(_decode, response.text.splitlines()) if isinstance(line, LogLine)]

    def stream(self, guid: str) -> Iterator[LogLine | int]:
        """Live lines; an ``int`` says that many were dropped because this client was slow."""
        timeout = httpx.Timeout(self.timeout, read=None)
        try:
            with httpx.stream("GET", f"{self.endpoint}/v1/apps/{guid}/stream", headers=self.headers,
                              timeout=timeout) as response:
                if response.status_code != 200:
                    response.read()
                    raise _refusal(self.endpoint, response)
                for raw in response.iter_lines():
                    item = _decode(raw)
                    if isinstance(item, dict):
                        raise LogStreamNotice(str(item["error"]))
                    if item is not None:
                        yield item
        except httpx.HTTPError as error:
            raise CfError(f"The log stream from {self.endpoint} broke: {error}") from None


def _decode(raw: str) -> LogLine | int | dict[str, Any] | None:
    if not raw.strip():
        return None                     # a heartbeat
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, dict) and "dropped" in value and isinstance(value["dropped"], int):
        return value["dropped"]
    if isinstance(value, dict) and "error" in value:
        return value
    try:
        return parse_line(value)
    except BadLine:
        return None
