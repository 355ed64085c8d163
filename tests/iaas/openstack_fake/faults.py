"""Fault injection: what a test asks the emulator to get wrong, and the log of what it was asked.

This is the emulator's own test-only admin surface, not part of any OpenStack API. Real clouds
throttle (429/503), run out of hosts or quota, let a server Nova accepted go to ERROR later, and
expire tokens earlier than a client expects; a CPI must survive each, and a test can only prove
that if the emulator can be told to do it at a chosen moment. Everything here is plain data kept
in ``Cloud.faults`` and touched only on the server's thread; ``admin.py`` serves it over HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# The services by their project names, as a fault names them, and the path prefix each is served under.
SERVICE_PREFIXES = {"keystone": "/identity/", "nova": "/compute/", "glance": "/image/", "neutron": "/network/",
                    "cinder": "/volume/"}
METHODS = ("*", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")
BOOT_STATUSES = ("ACTIVE", "ERROR")


class FaultSpecError(ValueError):
    """An admin request that does not describe a fault; the message names the field."""


def service_named_by(path: str) -> str:
    return next((name for name, prefix in SERVICE_PREFIXES.items() if path.startswith(prefix)), "nova")


@dataclass
class RequestFault:
    """The next ``times`` requests matching (service, method, path_regex), after letting the first
    ``after`` of them through, are answered with ``status`` and the service's own error body (or
    ``body`` verbatim); with ``expire_tokens`` instead, every
    token Keystone issued expires just before the matching request is checked, so it gets Keystone's
    401 as it would mid-run on a real cloud."""

    service: str
    method: str
    path_regex: re.Pattern[str]
    times: int
    status: int = 0
    message: str = ""
    body: dict[str, Any] | None = None
    expire_tokens: bool = False
    after: int = 0

    def matches(self, service: str, method: str, path: str) -> bool:
        return (self.service in ("*", service) and self.method in ("*", method)
                and self.path_regex.search(path) is not None)


@dataclass
class BootOutcome:
    """The next ``times`` servers Nova accepts stay in BUILD for ``build_polls`` reads, then become
    ``status``; an ERROR server carries Nova's ``fault``. ``leak_ports`` makes deleting such a server
    leave the ports Nova made for it (still bound to the deleted server's id), as Nova does when its
    network deallocation fails."""

    status: str
    times: int
    build_polls: int = 0
    fault_message: str = ""
    fault_code: int = 500
    leak_ports: bool = False


@dataclass
class Faults:
    request_faults: list[RequestFault] = field(default_factory=list)
    boot_outcomes: list[BootOutcome] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)  # every API request: service, method, path, status

    def take_request_fault(self, service: str, method: str, path: str) -> RequestFault | None:
        """The first armed fault matching this request, used up once (gone after ``times``)."""
        for fault in self.request_faults:
            if fault.matches(service, method, path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.request_faults.remove(fault)
                return fault
        return None

    def take_boot_outcome(self) -> BootOutcome | None:
        if not self.boot_outcomes:
            return None
        outcome = self.boot_outcomes[0]
        outcome.times -= 1
        if outcome.times <= 0:
            self.boot_outcomes.pop(0)
        return outcome

    def record(self, service: str, method: str, path: str, status: int) -> None:
        self.seen.append({"service": service, "method": method, "path": path, "status": status})

    def clear(self) -> None:
        self.request_faults.clear()
        self.boot_outcomes.clear()
        self.seen.clear()


def _field(spec: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = spec.get(name, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise FaultSpecError(f"fault field {name!r}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _times(spec: dict[str, Any]) -> int:
    times = _field(spec, "times", int, 1)
    if times < 1:
        raise FaultSpecError(f"fault field 'times': must be at least 1, got {times}")
    return int(times)


def request_fault_from(spec: object) -> RequestFault:
    """Parse ``{"service", "method", "path_regex", "status", "times", "after", "message" | "body",
    "expire_tokens"}``."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault is a JSON object")
    unknown = sorted(set(spec) - {"service", "method", "path_regex", "status", "times", "after", "message", "body",
                                  "expire_tokens"})
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(unknown)}")
    service = _field(spec, "service", str, "*")
    if service != "*" and service not in SERVICE_PREFIXES:
        raise FaultSpecError(f"fault field 'service': {service!r} is not one of *, {', '.join(SERVICE_PREFIXES)}")
    method = _field(spec, "method", str, "*").upper()
    if method not in METHODS:
        raise FaultSpecError(f"fault field 'method': {method!r} is not one of {', '.join(METHODS)}")
    try:
        path_regex = re.compile(_field(spec, "path_regex", str, ""))
    except re.error as error:
        raise FaultSpecError(f"fault field 'path_regex': {error}") from None
    expire_tokens = _field(spec, "expire_tokens", bool, False)
    status = _field(spec, "status", int, 0)
    if not expire_tokens and not 400 <= status <= 599:
        raise FaultSpecError(f"fault field 'status': an HTTP error status (400-599) is required, got {status}")
    body = spec.get("body")
    if body is not None and not isinstance(body, dict):
        raise FaultSpecError("fault field 'body': expected a JSON object")
    after = _field(spec, "after", int, 0)
    if after < 0:
        raise FaultSpecError(f"fault field 'after': must not be negative, got {after}")
    return RequestFault(service, method, path_regex, _times(spec), status,
                        _field(spec, "message", str, f"injected fault {status}"), body, expire_tokens, after)


def boot_outcome_from(spec: object) -> BootOutcome:
    """Parse ``{"status", "times", "build_polls", "fault": {"message", "code"}, "leak_ports"}``."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a boot outcome is a JSON object")
    unknown = sorted(set(spec) - {"status", "times", "build_polls", "fault", "leak_ports"})
    if unknown:
        raise FaultSpecError(f"unknown boot outcome field(s): {', '.join(unknown)}")
    status = _field(spec, "status", str, "ERROR")
    if status not in BOOT_STATUSES:
        raise FaultSpecError(f"boot outcome field 'status': {status!r} is not one of {', '.join(BOOT_STATUSES)}")
    build_polls = _field(spec, "build_polls", int, 0)
    if build_polls < 0:
        raise FaultSpecError(f"boot outcome field 'build_polls': must not be negative, got {build_polls}")
    fault = _field(spec, "fault", dict, {})
    message = _field(fault, "message", str, "Build of instance aborted: injected failure." if status == "ERROR"
                     else "")
    return BootOutcome(status, _times(spec), build_polls, message, _field(fault, "code", int, 500),
                       _field(spec, "leak_ports", bool, False))
