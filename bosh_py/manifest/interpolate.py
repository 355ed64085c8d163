"""``((variable))`` interpolation, as the BOSH CLI and director do it.

``((name))``, ``((name.sub.key))`` (keys into a map value) and ``((!name))`` (the ``!``
only stops YAML tooling from reading the placeholder; it is dropped). A string that is
exactly one placeholder takes the variable's value with its type (a map stays a map); a
placeholder inside a longer string may only receive a string or a number.

Sources, highest precedence first, as the BOSH CLI merges them: ``-v name=value``, then
``-l vars.yml`` files (a later file wins), then the director's credential store.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from bosh_py.manifest.errors import ManifestError, PathStep, named_path

PLACEHOLDER = re.compile(r"\(\((!?[-/.\w]+)\)\)")

_MISSING = object()


def variable_name(reference: str) -> str:
    """``!name.sub.key`` → ``name``: the variable a placeholder refers to."""
    return reference.lstrip("!").split(".", 1)[0]


def _lookup(reference: str, variables: Mapping[str, Any]) -> Any:
    """The value for one placeholder, ``_MISSING`` if the variable is unknown."""
    name, *keys = reference.lstrip("!").split(".")
    if name not in variables:
        return _MISSING
    value = variables[name]
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            where = ".".join([name, *keys[:depth]])
            raise KeyError(f"Expected to find key '{key}' in variable '{where}'")
        value = value[key]
    return value


def _walk(node: Any, loc: tuple[PathStep, ...]) -> Iterable[tuple[tuple[PathStep, ...], str]]:
    """Every string (values and keys) in ``node`` with its raw location."""
    if isinstance(node, str):
        yield loc, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(key, str):
                yield loc + (key,), key
            yield from _walk(value, loc + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, loc + (index,))


def find_variable_names(doc: Any) -> list[str]:
    """Names of the variables ``doc`` refers to, once each, in document order.

    The director uses it to know which variables to fetch from (or generate into) its store.
    """
    names: dict[str, None] = {}
    for _, text in _walk(doc, ()):
        for match in PLACEHOLDER.finditer(text):
            names.setdefault(variable_name(match.group(1)), None)
    return list(names)


def variable_paths(doc: Any) -> dict[str, list[str]]:
    """Named path → variables used there; paths whose values will hold secrets after
    interpolation, for :func:`bosh_py.manifest.diff.redact`."""
    found: dict[str, list[str]] = {}
    for loc, text in _walk(doc, ()):
        names = [variable_name(m.group(1)) for m in PLACEHOLDER.finditer(text)]
        if names:
            found.setdefault(named_path(doc, loc), []).extend(names)
    return found


class _Interpolator:
    def __init__(self, root: Any, variables: Mapping[str, Any], source: str | None) -> None:
        self.root = root
        self.variables = variables
        self.source = source
        self.missing: dict[str, None] = {}

    def error(self, loc: tuple[PathStep, ...], message: str) -> ManifestError:
        return ManifestError(message, path=named_path(self.root, loc), source=self.source)

    def value(self, reference: str, loc: tuple[PathStep, ...]) -> Any:
        try:
            value = _lookup(reference, self.variables)
        except KeyError as error:
            raise self.error(loc, str(error.args[0])) from None
        if value is _MISSING:
            self.missing.setdefault(variable_name(reference), None)
        return value

    def string(self, text: str, loc: tuple[PathStep, ...]) -> Any:
        whole = PLACEHOLDER.fullmatch(text)
        if whole:
            value = self.value(whole.group(1), loc)
            return text if value is _MISSING else copy.deepcopy(value)

        def replace(match: re.Match[str]) -> str:
            value = self.value(match.group(1), loc)
            if value is _MISSING:
                return match.group(0)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self.error(
                    loc,
                    f"Invalid type '{type(value).__name__}' for variable '{match.group(1)}' "
                    "inside a string: only strings and numbers can be interpolated there",
                )
            return str(value)

        return PLACEHOLDER.sub(replace, text)

    def node(self, node: Any, loc: tuple[PathStep, ...]) -> Any:
        if isinstance(node, str):
            return self.string(node, loc)
        if isinstance(node, Mapping):
            result: dict[Any, Any] = {}
            for key, value in node.items():
                new_key = key
                if isinstance(key, str) and PLACEHOLDER.search(key):
                    new_key = self.string(key, loc + (key,))
                    if not isinstance(new_key, (str, int, float, bool)):
                        raise self.error(loc + (key,), "a map key must interpolate to a scalar")
                result[new_key] = self.node(value, loc + (key,))
            return result
        if isinstance(node, list):
            return [self.node(item, loc + (index,)) for index, item in enumerate(node)]
        return copy.deepcopy(node)


def interpolate(
    doc: Any,
    variables: Mapping[str, Any],
    source: str | None = None,
    *,
    strict: bool = True,
) -> tuple[Any, list[str]]:
    """Fill placeholders from ``variables``; returns ``(new_doc, missing_names)``.

    ``strict`` (the default, as for ``bosh-py interpolate`` and the director's final pass)
    raises one error naming every missing variable. With ``strict=False`` unresolved
    placeholders are left in place and listed, which is what the CLI does before sending a
    manifest to the director (the director fills the rest from its store). ``doc`` is not
    modified.
    """
    interpolator = _Interpolator(doc, variables, source)
    result = interpolator.node(doc, ())
    missing = list(interpolator.missing)
    if missing and strict:
        raise ManifestError(f"Expected to find variables: {', '.join(missing)}", source=source)
    return result, missing


def parse_var_kv(argument: str) -> tuple[str, Any]:
    """One ``-v name=value`` flag, the way the BOSH CLI reads it.

    The value is read as a YAML scalar or collection (``-v port=8080`` gives an integer,
    ``-v 'ips=[a, b]'`` a list); anything that reads as a plain string is kept exactly as
    typed, minus wrapping quotes, and text that is not valid YAML is a string too.
    """
    name, sep, raw = argument.partition("=")
    if not sep:
        raise ManifestError(f"Expected var '{argument}' to be in format 'name=value'")
    if not name:
        raise ManifestError(f"Expected var '{argument}' to specify non-empty name")
    if not raw:
        raise ManifestError(f"Expected var '{argument}' to specify non-empty value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return name, raw
    if isinstance(value, str):
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            raw = raw[1:-1]
        return name, raw
    return name, value


def merge_variable_sources(
    var_kvs: Sequence[str] = (),
    var_files: Sequence[Mapping[str, Any]] = (),
    store: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One lookup table in BOSH's order: ``-v`` beats ``-l`` (later files beat earlier
    ones), which beat the director's store. Files are whole top-level entries, not merged
    deeply, as in the BOSH CLI."""
    merged: dict[str, Any] = dict(store or {})
    for variables in var_files:
        merged.update(variables)
    for argument in var_kvs:
        name, value = parse_var_kv(argument)
        merged[name] = value
    return merged
