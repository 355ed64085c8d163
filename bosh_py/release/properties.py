"""Job properties: the effective values a template sees, and type checks on the manifest.

A template sees only the properties its job spec declares (as in BOSH): for each declared
dotted name, the manifest value if set (``null`` counts as unset), else the spec default.
Values are arranged as a nested tree, so ``p("nats")`` returns the whole ``nats`` hash.

Manifest properties are normally nested (``nats: {port: 4222}``); a flat key
(``"nats.port": 4222``) is accepted too, because operators write it and guessing wrong
silently would be worse.
"""

from __future__ import annotations

from typing import Any, Mapping

from .models import CHECKED_PROPERTY_TYPES, JobSpec

MISSING: Any = object()


def as_job_spec(spec: JobSpec | Mapping[str, Any]) -> JobSpec:
    """Accept a JobSpec or the plain dict of a parsed spec (as the director stores it)."""
    return spec if isinstance(spec, JobSpec) else JobSpec.model_validate(dict(spec))


def lookup(tree: Mapping[str, Any] | None, dotted: str) -> Any:
    """The value at ``dotted`` in a nested mapping, or MISSING (also for explicit null)."""
    if tree is None or not isinstance(tree, Mapping):
        return MISSING
    if dotted in tree:
        value = tree[dotted]
        return MISSING if value is None else value
    head, sep, rest = dotted.partition(".")
    while sep:
        if head in tree and isinstance(tree[head], Mapping):
            found = lookup(tree[head], rest)
            if found is not MISSING:
                return found
        nxt, sep, rest = rest.partition(".")
        head = f"{head}.{nxt}"
    return MISSING


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    last = parts[-1]
    if isinstance(node.get(last), dict) and isinstance(value, dict):
        node[last] = {**value, **node[last]}  # deeper declared properties win
    else:
        node[last] = value


def effective_properties(spec: JobSpec | Mapping[str, Any], manifest_properties: Mapping[str, Any] | None,
                         names: list[str] | None = None) -> dict[str, Any]:
    """Nested tree of declared properties (or only ``names``): manifest value, else default.

    Properties with neither are left out, so ``p()`` reports them as not found.
    """
    spec = as_job_spec(spec)
    tree: dict[str, Any] = {}
    # Longer names last so ``a.b`` set after a hash-valued ``a`` refines it.
    for name in sorted(names if names is not None else spec.properties, key=lambda n: (n.count("."), n)):
        value = lookup(manifest_properties, name)
        if value is MISSING:
            definition = spec.properties.get(name)
            value = definition.default if definition is not None else None
        if value is not None:
            _set(tree, name, value)
    return tree


def link_properties(provider_spec: JobSpec | Mapping[str, Any], manifest_properties: Mapping[str, Any] | None,
                    provides_name: str) -> dict[str, Any]:
    """The properties a job shares through its ``provides`` link ``provides_name``.

    Raises KeyError if the spec has no such link (the planner checks that first).
    """
    provider_spec = as_job_spec(provider_spec)
    for provides in provider_spec.provides:
        if provides.name == provides_name:
            return effective_properties(provider_spec, manifest_properties, list(provides.properties))
    raise KeyError(provides_name)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "hash"
    return type(value).__name__


def _matches(expected: str, value: Any) -> bool:
    actual = _type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


def validate_job_properties(job_spec: JobSpec | Mapping[str, Any], properties: Mapping[str, Any] | None,
                            path_prefix: str) -> list[str]:
    """Type errors of manifest ``properties`` against ``job_spec``, one message each.

    The type is the spec's ``type:`` (integer, string, boolean, array, hash, number), or,
    when absent, inferred from an integer or boolean default (the common case of
    ``port: {default: 4222}`` where a quoted ``"4222"`` is a mistake). Unknown types such as
    ``certificate`` are not checked. Messages look like
    ``<path_prefix>/nats.port: expected integer``.
    """
    job_spec = as_job_spec(job_spec)
    errors: list[str] = []
    prefix = path_prefix.rstrip("/")
    for name, definition in sorted(job_spec.properties.items()):
        expected = definition.type
        if expected is None and isinstance(definition.default, (bool, int)) and definition.default is not None:
            expected = "boolean" if isinstance(definition.default, bool) else "integer"
        if expected not in CHECKED_PROPERTY_TYPES:
            continue
        value = lookup(properties, name)
        if value is MISSING:
            continue
        if not _matches(expected, value):
            errors.append(f"{prefix}/{name}: expected {expected}")
    return errors
