"""HTTP to one service broker, as the Open Service Broker API v2 has it.

Every request carries ``X-Broker-Api-Version`` and the broker's basic auth, has a timeout,
and never follows a redirect (a broker cannot bounce the CC to another address). Answers
are parsed here: a caller gets a dict or a :class:`BrokerFailure` whose text names the
broker, the call and what went wrong, never the broker's credentials nor more than a short
excerpt of what the broker sent back.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

API_VERSION = "2.13"
MAX_ANSWER = 1024 * 1024       # bytes read from a broker answer
EXCERPT = 200                  # characters of a broker's error description shown to users


class BrokerFailure(Exception):
    """kind: timeout | unreachable | bad_response | rejected | async_required | gone | conflict."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class UrlInvalid(ValueError):
    pass


def check_broker_url(url: Any) -> str:
    """An absolute http(s) URL without credentials, query or fragment (docs/services.md)."""
    if not isinstance(url, str) or not url:
        raise UrlInvalid("broker_url is required")
    if len(url) > 2048:
        raise UrlInvalid("broker_url is longer than 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlInvalid(f"broker_url must be an http:// or https:// URL, not {url!r}")
    if not parts.hostname:
        raise UrlInvalid(f"broker_url has no host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise UrlInvalid("broker_url must not carry credentials; pass auth_username and auth_password")
    if parts.query or parts.fragment:
        raise UrlInvalid("broker_url must not have a query or a fragment")
    try:
        _ = parts.port
    except ValueError:
        raise UrlInvalid(f"broker_url has a bad port: {url!r}") from None
    if any(c.isspace() for c in url):
        raise UrlInvalid("broker_url must not contain white space")
    return url.rstrip("/")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None            # a 3xx is then an error answer like any other


_OPENER = urllib.request.build_opener(_NoRedirects, urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class BrokerClient:
    url: str
    username: str
    password: str
    timeout: float = 60.0

    def __repr__(self) -> str:
        return f"BrokerClient({self.url!r})"

    # -- the OSB calls --------------------------------------------------------------------

    def catalog(self) -> dict:
        return self._call("GET", "/v2/catalog", ok=(200,))[1]

    def provision(self, instance_id: str, body: dict, accepts_incomplete: bool) -> tuple[int, dict]:
        return self._call("PUT", f"/v2/service_instances/{quote(instance_id, safe='')}",
                          {"accepts_incomplete": "true"} if accepts_incomplete else None, body, ok=(200, 201, 202))

    def deprovision(self, instance_id: str, service_id: str, plan_id: str,
                    accepts_incomplete: bool) -> tuple[int, dict]:
        query = {"service_id": service_id, "plan_id": plan_id}
        if accepts_incomplete:
            query["accepts_incomplete"] = "true"
        return self._call("DELETE", f"/v2/service_instances/{quote(instance_id, safe='')}", query,
                          ok=(200, 202, 410))

    def last_operation(self, instance_id: str, service_id: str, plan_id: str, operation: str | None) -> dict:
        query = {"service_id": service_id, "plan_id": plan_id}
        if operation:
            query["operation"] = operation
        return self._call("GET", f"/v2/service_instances/{quote(instance_id, safe='')}/last_operation", query,
                          ok=(200, 410))[1]

    def bind(self, instance_id: str, binding_id: str, body: dict) -> tuple[int, dict]:
        return self._call("PUT", f"/v2/service_instances/{quote(instance_id, safe='')}/service_bindings/"
                          f"{quote(binding_id, safe='')}", None, body, ok=(200, 201))

    def unbind(self, instance_id: str, binding_id: str, service_id: str, plan_id: str) -> int:
        return self._call("DELETE", f"/v2/service_instances/{quote(instance_id, safe='')}/service_bindings/"
                          f"{quote(binding_id, safe='')}", {"service_id": service_id, "plan_id": plan_id},
                          ok=(200, 410))[0]

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, path: str, query: dict | None = None, body: dict | None = None,
              ok: tuple[int, ...] = (200,)) -> tuple[int, dict]:
        what = f"{method} {path}"
        url = self.url + path + (("?" + urlencode(query)) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("X-Broker-Api-Version", API_VERSION)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        creds = f"{self.username}:{self.password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(creds).decode())
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as e:
            status, raw = e.code, _read(e)
        except TimeoutError:
            raise BrokerFailure("timeout", f"The service broker at {self.url} did not answer {what} "
                                f"within {self.timeout:g} s") from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise BrokerFailure("timeout", f"The service broker at {self.url} did not answer {what} "
                                    f"within {self.timeout:g} s") from None
            raise BrokerFailure("unreachable", f"The service broker at {self.url} could not be reached "
                                f"({what}): {reason}") from None
        except (OSError, ValueError) as e:
            raise BrokerFailure("unreachable", f"The service broker at {self.url} could not be reached "
                                f"({what}): {e}") from None
        if len(raw) > MAX_ANSWER:
            raise BrokerFailure("bad_response", f"The service broker's answer to {what} is larger than "
                                f"{MAX_ANSWER} bytes", status)
        parsed = _json(raw)
        if status in ok:
            if status == 410:
                return status, {}
            if not isinstance(parsed, dict):
                raise BrokerFailure("bad_response", f"The service broker answered {what} with {status} and a body "
                                    "that is not a JSON object", status)
            return status, parsed
        description = _description(parsed)
        if status == 422 and isinstance(parsed, dict) and parsed.get("error") == "AsyncRequired":
            raise BrokerFailure("async_required", description or "AsyncRequired", status)
        if status == 409:
            raise BrokerFailure("conflict", f"The service broker answered {what} with 409 Conflict"
                                + (f": {description}" if description else ""), status)
        if 400 <= status < 500:
            raise BrokerFailure("rejected", f"The service broker rejected {what} with status {status}"
                                + (f": {description}" if description else ""), status)
        raise BrokerFailure("bad_response", f"The service broker answered {what} with status {status}"
                            + (f": {description}" if description else ""), status)


def _read(e: urllib.error.HTTPError) -> bytes:
    try:
        return e.read(MAX_ANSWER + 1)
    except (OSError, ValueError):
        return b""


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _description(parsed: Any) -> str:
    """The broker's own ``description`` (OSB error body), cut short and on one line."""
    if not isinstance(parsed, dict):
        return ""
    text = parsed.get("description") or parsed.get("error") or ""
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    return text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")
