"""Checking what arrives over NATS before a component acts on it.

Why: anything holding NATS credentials can publish any bytes on a subject a component reads.
One bad field must never reach nginx, a database, a container or a loop that stops the
component, so every component turns a raw payload into a checked message here (a plain dict
holding only fields that passed their type, range, character-set and length checks) or drops
it with one logged line that names the subject and field.

``Fields`` reads one JSON object; ``validated`` wraps a parser and a handler into the
``Bus.subscribe`` callback that does the logging and dropping. Patterns are always applied
with ``fullmatch`` (``$`` would accept a trailing newline). Values of fields that may carry
credentials (URIs) are never echoed in errors.

Standard library only: this runs on the stemcell's python3.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any, Awaitable, Callable, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: app guids, instance ids, DEA ids, versions: what the platform itself generates (uuid hex,
#: uuid4 strings, "0-<hex>") and what an operator may name a DEA.
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
#: a DEA's id: it becomes a token of NATS subjects (dea.<id>.start), so no '.', '*' or '>'.
DEA_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
#: an app version (the CC's guids; a DEA reports "" for an instance started without one).
VERSION_RE = re.compile(r"[A-Za-z0-9_.:-]{0,128}")
#: printable text without control characters (names, descriptions, reasons).
PRINTABLE_RE = re.compile(r"[^\x00-\x1f\x7f]*")
#: an absolute http(s) URL without whitespace or control characters.
HTTP_URL_RE = re.compile(r"https?://[!-~]{1,2000}")

MAX_LIST = 1000          # entries in any list a message carries
MAX_TEXT = 1024          # default bound of a text field
MAX_INDEX = 1000         # instance indices (the CC allows at most 1000 instances)
#: EVACUATING: running, routes still registered, on a DEA that is draining (dea_ng's state)
INSTANCE_STATES = ("BORN", "STARTING", "RUNNING", "EVACUATING", "STOPPING", "STOPPED", "CRASHED")
EXIT_REASONS = ("CRASHED", "STOPPED", "DEA_SHUTDOWN", "DEA_EVACUATION")


class MessageError(ValueError):
    """A NATS message the component refuses; ``str(e)`` names the subject and the field."""


def show(value: Any, limit: int = 60) -> str:
    """A short, single-line rendering of an offending value for a log line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Fields:
    """Typed reads from one decoded message (a JSON object), each checked."""

    def __init__(self, payload: Any, where: str) -> None:
        if not isinstance(payload, dict):
            raise MessageError(f"{where}: expected a JSON object, not {type(payload).__name__}")
        self.data = payload
        self.where = where

    def _error(self, key: str, problem: str) -> MessageError:
        return MessageError(f"{self.where}: '{key}' {problem}")

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise self._error(key, "is required")
        return value

    def text(self, key: str, pattern: re.Pattern[str] = PRINTABLE_RE, max_len: int = MAX_TEXT,
             required: bool = True, default: str | None = None, secret: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        return check_text(value, pattern, max_len, lambda p: self._error(key, p), secret)

    def description(self, key: str, max_len: int = MAX_TEXT, keep_newlines: bool = False) -> str:
        """Free text shown to people (an exit description, a staging log): a string is required
        if present, but control characters are replaced and the text cut at ``max_len``, so a
        component's own multi-line error never costs the message."""
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._error(key, f"must be a string, not {type(value).__name__}")
        return sanitize(value[:max_len], keep_newlines)

    def integer(self, key: str, low: int, high: int, required: bool = True,
                default: int | None = None) -> int | None:
        value = self._get(key, required)
        if value is None:
            return default
        return check_int(value, low, high, lambda p: self._error(key, p))

    def number(self, key: str, low: float, high: float, required: bool = True,
               default: float | None = None) -> float | None:
        value = self._get(key, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._error(key, f"must be a number, not {show(value)}")
        if not low <= value <= high:
            raise self._error(key, f"must be between {low:g} and {high:g}, not {value:g}")
        return float(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._error(key, f"must be true or false, not {show(value)}")
        return value

    def one_of(self, key: str, choices: tuple[str, ...], required: bool = True,
               default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str) or value not in choices:
            raise self._error(key, f"must be one of {', '.join(choices)}, not {show(value)}")
        return value

    def texts(self, key: str, pattern: re.Pattern[str] = PRINTABLE_RE, max_len: int = MAX_TEXT,
              max_items: int = MAX_LIST, required: bool = False) -> list[str] | None:
        """A list of strings; None when absent and not required."""
        items = self._list(key, max_items, required)
        if items is None:
            return None
        return [check_text(v, pattern, max_len, lambda p, i=i: self._error(f"{key}[{i}]", p))
                for i, v in enumerate(items)]

    def integers(self, key: str, low: int, high: int, max_items: int = MAX_LIST,
                 required: bool = False) -> list[int] | None:
        items = self._list(key, max_items, required)
        if items is None:
            return None
        return [check_int(v, low, high, lambda p, i=i: self._error(f"{key}[{i}]", p))
                for i, v in enumerate(items)]

    def raw_list(self, key: str, max_items: int = MAX_LIST, required: bool = False) -> list[Any] | None:
        return self._list(key, max_items, required)

    def _list(self, key: str, max_items: int, required: bool) -> list[Any] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._error(key, f"must be a list, not {type(value).__name__}")
        if len(value) > max_items:
            raise self._error(key, f"has {len(value)} entries, at most {max_items} are accepted")
        return value

    def nested(self, key: str, required: bool = False) -> "Fields":
        """An object inside the message (an absent optional one reads as empty)."""
        value = self._get(key, required)
        return Fields({} if value is None else value, f"{self.where}.{key}")

    def string_map(self, key: str, key_pattern: re.Pattern[str], value_pattern: re.Pattern[str],
                   max_items: int = 64, max_len: int = 256) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._error(key, f"must be an object, not {type(value).__name__}")
        if len(value) > max_items:
            raise self._error(key, f"has {len(value)} entries, at most {max_items} are accepted")
        result: dict[str, str] = {}
        for k, v in value.items():
            check_text(k, key_pattern, 64, lambda p, k=k: self._error(f"{key} key {show(k)}", p))
            result[k] = check_text(v, value_pattern, max_len, lambda p, k=k: self._error(f"{key}.{k}", p))
        return result


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINES_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def sanitize(text: str, keep_newlines: bool = False) -> str:
    pattern = _CONTROL_BUT_NEWLINES_RE if keep_newlines else _CONTROL_RE
    return pattern.sub(" ", text)


def check_text(value: Any, pattern: re.Pattern[str], max_len: int,
               error: Callable[[str], MessageError], secret: bool = False) -> str:
    shown = "the value" if secret else show(value)
    if not isinstance(value, str):
        raise error(f"must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise error(f"is {len(value)} characters long, at most {max_len} are accepted")
    if not pattern.fullmatch(value):
        raise error(f"has characters that are not accepted: {shown}")
    return value


def check_int(value: Any, low: int, high: int, error: Callable[[str], MessageError]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"must be an integer, not {show(value)}")
    if not low <= value <= high:
        raise error(f"must be between {low} and {high}, not {show(value)}")
    return value


def validated(subject: str, parse: Callable[[Any], T], handler: Callable[[T, Any], Awaitable[None]]
              ) -> Callable[[Any, Any], Awaitable[None]]:
    """A ``Bus.subscribe`` callback: parse, then handle; a refused message is logged (one line,
    no traceback: an attacker must not be able to flood the log with stacks) and dropped."""

    async def on_message(payload: Any, msg: Any) -> None:
        try:
            message = parse(payload)
        except MessageError as e:
            log.warning("dropping a %s message: %s", getattr(msg, "subject", subject), e)
            return
        await handler(message, msg)

    return on_message


# --- messages more than one component reads --------------------------------------------------

def parse_exited(payload: Any) -> dict[str, Any]:
    """``droplet.exited`` (DEA → health manager and cloud controller), as a checked dict."""
    f = Fields(payload, "droplet.exited")
    return {"droplet": f.text("droplet", ID_RE, 128),
            "version": f.text("version", VERSION_RE, 128, required=False, default=""),
            "instance": f.text("instance", ID_RE, 128, required=False, default=""),
            "index": f.integer("index", 0, MAX_INDEX),
            "reason": f.one_of("reason", EXIT_REASONS),
            "exit_status": f.integer("exit_status", -(2 ** 31), 2 ** 31, required=False),
            "exit_description": f.description("exit_description"),
            "crash_timestamp": f.number("crash_timestamp", 0, 1e11, required=False)}
