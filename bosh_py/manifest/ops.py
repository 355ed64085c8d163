"""go-patch ops files (``bosh-py deploy -o ops.yml``), with go-patch's own error texts so
operators can search for them.

Path steps: ``/key``, ``/0`` (``-1`` counts from the end), ``/-`` (append; last step only),
``/name=value`` (the one array item whose ``name`` is ``value``), a trailing ``?`` makes
that step and every later one optional (replace creates what is missing, remove does
nothing), escapes ``~1`` → ``/`` and ``~0`` → ``~``. Index and ``name=value`` steps accept
go-patch's modifiers ``:prev``, ``:next`` (neighbouring item) and, for replace,
``:before``/``:after`` (insert instead of overwrite).

Errors name the ops file and the operation's index in it as the path (an ops file is a
YAML list, so ``ops.yml: 2: ...`` points at its third entry).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bosh_py.manifest.errors import ManifestError
from bosh_py.manifest.load import kind_name

TokenKind = Literal["key", "index", "append", "match"]
_MODIFIERS = ("prev", "next", "before", "after")
_ESCAPE = re.compile(r"~[01]")


def _kind(value: Any) -> str:
    """Type words in go-patch's vocabulary (it says array where YAML says list)."""
    return "array" if isinstance(value, list) else kind_name(value)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: "~" if m.group(0) == "~0" else "/", text)


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    raw: str
    key: str = ""
    value: str = ""
    index: int = 0
    optional: bool = False
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Op:
    type: Literal["replace", "remove"]
    path: str
    tokens: tuple[Token, ...]
    value: Any = None
    error: str | None = None


class _PatchError(Exception):
    """A go-patch message, turned into a ManifestError with the op index by apply_ops."""


def parse_pointer(path: str) -> tuple[Token, ...]:
    """Split a go-patch path into tokens; ``""`` is the whole document."""
    if path == "":
        return ()
    if not path.startswith("/"):
        raise _PatchError("Expected to start with '/'")
    pieces = path.split("/")[1:]
    tokens: list[Token] = []
    optional = False
    for position, raw in enumerate(pieces):
        last = position == len(pieces) - 1
        text, *modifiers = raw.split(":")
        for modifier in modifiers:
            if modifier not in _MODIFIERS:
                raise _PatchError(
                    "Expected to find one of the following modifiers: 'prev', 'next', "
                    f"'before', or 'after' but found '{modifier}'"
                )
        if last and text == "-":
            if modifiers:
                raise _PatchError("Expected not to find any modifiers with after last index token")
            tokens.append(Token("append", raw))
            continue
        if re.fullmatch(r"-?\d+", text):
            tokens.append(Token("index", raw, index=int(text), modifiers=tuple(modifiers)))
            continue
        if text.endswith("?"):
            optional = True
            text = text[:-1]
        key, sep, value = text.partition("=")
        if sep:
            tokens.append(Token("match", raw, key=_unescape(key), value=_unescape(value),
                                optional=optional, modifiers=tuple(modifiers)))
            continue
        if modifiers:
            raise _PatchError("Expected not to find any modifiers with key token")
        tokens.append(Token("key", raw, key=_unescape(text), optional=optional))
    return tuple(tokens)


def _pointer(tokens: Sequence[Token]) -> str:
    return "".join("/" + token.raw for token in tokens)


def parse_ops(ops: Any) -> list[Op]:
    """Validate an ops file's entries before any is applied (as go-patch does)."""
    if not isinstance(ops, list):
        raise ManifestError(f"expected a list of operations, found {kind_name(ops)}")
    parsed: list[Op] = []
    for index, entry in enumerate(ops):
        where = str(index)
        if not isinstance(entry, Mapping):
            raise ManifestError(f"expected a map, found {kind_name(entry)}", path=where)
        for key in entry:
            if key not in ("type", "path", "value", "error"):
                raise ManifestError(f"unknown key '{key}'", path=where)
        if "type" not in entry:
            raise ManifestError("missing required key 'type'", path=where)
        op_type = entry["type"]
        if op_type not in ("replace", "remove"):
            raise ManifestError(
                f"Unknown operation with type '{op_type}' (expected 'replace' or 'remove')",
                path=f"{where}/type",
            )
        if "path" not in entry:
            raise ManifestError("missing required key 'path'", path=where)
        path = entry["path"]
        if not isinstance(path, str):
            raise ManifestError(f"expected string, found {kind_name(path)}", path=f"{where}/path")
        if op_type == "replace" and "value" not in entry:
            raise ManifestError("missing required key 'value'", path=where)
        if op_type == "remove" and "value" in entry:
            raise ManifestError("Cannot specify value", path=f"{where}/value")
        error = entry.get("error")
        if error is not None and not isinstance(error, str):
            raise ManifestError(f"expected string, found {kind_name(error)}", path=f"{where}/error")
        try:
            tokens = parse_pointer(path)
        except _PatchError as problem:
            raise ManifestError(f"Invalid path '{path}': {problem}", path=f"{where}/path") from None
        parsed.append(Op(op_type, path, tokens, copy.deepcopy(entry.get("value")), error))
    return parsed


@dataclass
class _Step:
    """Where the walk stands: the container and how to reach the current node in it."""

    container: Any
    slot: Any
    node: Any = field(init=False)

    def __post_init__(self) -> None:
        self.node = self.container[self.slot]

    def set(self, value: Any) -> None:
        self.container[self.slot] = value
        self.node = value


def _array(step: _Step, tokens: Sequence[Token], position: int) -> list[Any]:
    if not isinstance(step.node, list):
        raise _PatchError(
            f"Expected to find an array at path '{_pointer(tokens[: position + 1])}' "
            f"but found '{_kind(step.node)}'"
        )
    return step.node


def _map(step: _Step, tokens: Sequence[Token], position: int) -> dict[Any, Any]:
    if not isinstance(step.node, dict):
        raise _PatchError(
            f"Expected to find a map at path '{_pointer(tokens[: position + 1])}' "
            f"but found '{_kind(step.node)}'"
        )
    return step.node


def _missing_key(key: str, node: Mapping[Any, Any], tokens: Sequence[Token], position: int) -> _PatchError:
    siblings = sorted(str(k) for k in node if isinstance(k, str))
    found = ("found map keys: '" + "', '".join(siblings) + "'") if siblings else "found no other map keys"
    return _PatchError(
        f"Expected to find a map key '{key}' for path '{_pointer(tokens[: position + 1])}' ({found})"
    )


def _matching(array: list[Any], token: Token, tokens: Sequence[Token], position: int) -> list[int]:
    found = [i for i, item in enumerate(array)
             if isinstance(item, Mapping) and item.get(token.key) == token.value]
    if len(found) > 1 or (not found and not token.optional):
        raise _PatchError(
            "Expected to find exactly one matching array item for path "
            f"'{_pointer(tokens[: position + 1])}' but found {len(found)}"
        )
    return found


def _concrete_index(index: int, token: Token, array: list[Any], tokens: Sequence[Token],
                    position: int, allow_end: bool = False) -> int:
    """Apply a negative index and prev/next; check the result is inside the array."""
    if index < 0:
        index += len(array)
    for modifier in token.modifiers:
        index += {"prev": -1, "next": 1}.get(modifier, 0)
    limit = len(array) + (1 if allow_end else 0)
    if not 0 <= index < limit:
        raise _PatchError(
            f"Expected to find array index '{index}' but found array of length "
            f"'{len(array)}' for path '{_pointer(tokens[: position + 1])}'"
        )
    return index


def _empty_for(next_token: Token, tokens: Sequence[Token], position: int) -> Any:
    if next_token.kind == "key":
        return {}
    if next_token.kind in ("match", "append"):
        return []
    raise _PatchError(
        "Expected to find key, matching index or after last index token at path "
        f"'{_pointer(tokens[: position + 2])}'"
    )


def _replace(doc: Any, tokens: Sequence[Token], value: Any) -> Any:
    if not tokens:
        return value
    holder = [doc]
    step = _Step(holder, 0)
    for position, token in enumerate(tokens):
        last = position == len(tokens) - 1
        if token.kind == "key":
            node = _map(step, tokens, position)
            if token.key not in node:
                if not token.optional:
                    raise _missing_key(token.key, node, tokens, position)
                node[token.key] = value if last else _empty_for(tokens[position + 1], tokens, position)
            elif last:
                node[token.key] = value
            step = _Step(node, token.key)
            continue
        array = _array(step, tokens, position)
        if token.kind == "append":
            array.append(value)
            continue
        if token.kind == "match":
            found = _matching(array, token, tokens, position)
            if not found:
                array.append(value if last else {token.key: token.value})
                step = _Step(array, len(array) - 1)
                continue
            index = found[0]
        else:
            index = token.index
        inserting = last and ("before" in token.modifiers or "after" in token.modifiers)
        index = _concrete_index(index, token, array, tokens, position)
        if inserting:
            array.insert(index + (1 if "after" in token.modifiers else 0), value)
        elif last:
            array[index] = value
        else:
            step = _Step(array, index)
    return holder[0]


def _remove(doc: Any, tokens: Sequence[Token]) -> Any:
    if not tokens:
        raise _PatchError("Cannot remove entire document")
    holder = [doc]
    step = _Step(holder, 0)
    for position, token in enumerate(tokens):
        last = position == len(tokens) - 1
        if token.kind == "key":
            node = _map(step, tokens, position)
            if token.key not in node:
                if token.optional:
                    return holder[0]
                raise _missing_key(token.key, node, tokens, position)
            if last:
                del node[token.key]
            else:
                step = _Step(node, token.key)
            continue
        array = _array(step, tokens, position)
        if token.kind == "append":
            raise _PatchError(f"Expected to not find token '-' at path '{_pointer(tokens[: position + 1])}'")
        if "before" in token.modifiers or "after" in token.modifiers:
            raise _PatchError("Expected not to find 'before' or 'after' modifiers in a remove operation")
        if token.kind == "match":
            found = _matching(array, token, tokens, position)
            if not found:
                return holder[0]
            index = found[0]
        else:
            index = token.index
        index = _concrete_index(index, token, array, tokens, position)
        if last:
            del array[index]
        else:
            step = _Step(array, index)
    return holder[0]


def apply_ops(doc: Any, ops: Any, source: str | None = None) -> Any:
    """Apply one ops file (the loaded YAML list) to ``doc``; returns a new document and
    leaves ``doc`` and ``ops`` untouched. Several ``-o`` files: call once per file, in order.
    """
    try:
        parsed = parse_ops(ops)
    except ManifestError as error:
        raise ManifestError(error.message, path=error.path, source=source) from None
    result = copy.deepcopy(doc)
    for index, op in enumerate(parsed):
        try:
            if op.type == "replace":
                result = _replace(result, op.tokens, copy.deepcopy(op.value))
            else:
                result = _remove(result, op.tokens)
        except _PatchError as problem:
            message = op.error or str(problem)
            raise ManifestError(message, path=str(index), source=source) from None
    return result
