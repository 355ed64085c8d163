"""Malformed NATS payloads for fuzzing the platform's components (hypothesis strategies), and a
raw publisher. Beside plumbing.py because every component's fuzz test shares them.

A payload is built from a valid message of the subject (the ``template``) and broken: a field
replaced by a wrong type, a huge or out-of-range value, a string with control characters
(the newline-in-a-uri attack), or removed; or it is no JSON object at all (garbage bytes,
another JSON type, nesting deep enough to exhaust a recursive parser).

Safety: generated strings never contain ``://``, so no mutation can turn a field into a URL a
component would fetch; templates only hold loopback addresses.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import strategies as st

_NO_URL = st.text(max_size=40).filter(lambda s: "://" not in s)
_CONTROL = st.sampled_from(["x.bosh-py.local\n/x", "a\r\nb", "\x00", "tab\there", "x\n", "\x1b[31m",
                            "ok.bosh-py.local\nserver_name evil.example.com", "a;b}", "$x", "{{x}}",
                            "..", "../../etc", "*", ">", "a.>", "é"])
# a valid-looking value with a control character or separator inside: what slips past a `$`
_EMBEDDED = st.builds(lambda head, sep, tail: head + sep + tail,
                      st.sampled_from(["fuzz.bosh-py.local", "127.0.0.2", "a", "0-dea"]),
                      st.sampled_from(["\n", "\n", "\n", "\r\n", "\x00", "\t", ";", "\n}\n", "\x7f"]),
                      st.sampled_from(["/x", "/x", "", "/p/q", "server_name evil;", "x"]))
BAD_VALUES = st.one_of(
    _CONTROL, _EMBEDDED, _EMBEDDED,     # the attacks seen: weighted up
    st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, -1, 65536, 2 ** 31, 2 ** 63, 10 ** 30]),
    st.floats(allow_nan=True, allow_infinity=True),
    _NO_URL, _CONTROL,
    st.just("a" * 100_000),
    st.builds(lambda: list(range(5000))),
    st.lists(st.one_of(st.integers(), _NO_URL, _CONTROL, st.none()), max_size=5),
    st.dictionaries(_NO_URL, st.one_of(st.integers(), _NO_URL, _CONTROL), max_size=4),
)
_JSON_NOT_OBJECT = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _NO_URL),
    lambda inner: st.lists(inner, max_size=4), max_leaves=10)


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity as Python's json writes (and reads) them


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a message a value sits: keys, list entries, nested object values."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key in sorted(value):
            paths += _paths(value[key], prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            paths += _paths(item, prefix + (i,))
    return paths


def _set(message: Any, path: tuple, new: Any, delete: bool = False) -> None:
    for step in path[:-1]:
        message = message[step]
    if delete and isinstance(message, dict):
        del message[path[-1]]
    else:
        message[path[-1]] = new


@st.composite
def _mutated(draw: st.DrawFn, template: dict) -> bytes:
    """The template with one (sometimes two) of its values broken or removed."""
    message = json.loads(json.dumps(template))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
        paths = _paths(message)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["inject", "inject", "replace", "replace", "delete"]))
        new = draw(_EMBEDDED) if action == "inject" else draw(BAD_VALUES)
        _set(message, path, new, delete=action == "delete")
        message = json.loads(_encode(message))  # no object shared with a strategy is ever mutated
    return _encode(message)


def malformed(template: dict) -> st.SearchStrategy[bytes]:
    """Broken variants of ``template`` (mostly) and payloads that are no JSON object."""
    return st.one_of(
        _mutated(template), _mutated(template), _mutated(template), _mutated(template),
        st.binary(max_size=300),
        _JSON_NOT_OBJECT.map(_encode),
        st.integers(min_value=50, max_value=50_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(min_value=50, max_value=50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )


def publish_raw(loop: asyncio.AbstractEventLoop, client: Any, subject: str, payload: bytes,
                reply: str = "") -> None:
    """Publish bytes as they are (no JSON encoding) from a synchronous test."""
    async def go() -> None:
        await client.publish(subject, payload, reply=reply)
        await client.flush()
    asyncio.run_coroutine_threadsafe(go(), loop).result(10)
