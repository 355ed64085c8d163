"""Redaction and the ``+``/``-`` manifest diff shown before a deploy.

Secrets must never reach a task log or the terminal (DESIGN.md, rules of the house), so
the diff is computed on the real values (a changed password still shows as a changed
line) but printed from a redacted copy whose lines correspond one to one: redaction only
ever replaces scalar leaves, never a map or list, and every scalar is dumped on one line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import yaml

from bosh_py.manifest.errors import named_path

REDACTED = "<redacted>"

SECTION_ORDER = ("name", "director_uuid", "releases", "stemcells", "update", "instance_groups",
                 "addons", "variables", "features", "tags", "azs", "networks", "vm_types",
                 "vm_extensions", "disk_types", "compilation")


def secret_values(variables: Mapping[str, Any]) -> set[str]:
    """Every string leaf of variable values (passwords, PEM blocks, keys...)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value:
                found.add(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(dict(variables))
    return found


def _redact_leaves(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {key: _redact_leaves(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_redact_leaves(item) for item in node]
    return REDACTED


def redact(
    doc: Any,
    secret_values: Collection[str] = (),
    secret_paths: Iterable[str] = (),
    *,
    redact_properties: bool = False,
) -> Any:
    """A copy of ``doc`` where secrets read ``<redacted>``.

    - ``secret_values``: any string equal to or containing one of them (a password inside
      a URL) is redacted; short values (under 4 characters) are ignored, to keep ``"1"``
      from hiding every ``1``-bearing string.
    - ``secret_paths``: named paths (``instance_groups/router/jobs/0/properties/pass``, as
      from ``interpolate.variable_paths``) whose whole subtree is redacted.
    - ``redact_properties``: redact every value under a ``properties`` key, as the BOSH
      director does for its deploy diff.
    Only scalars are replaced, so the shape of ``doc`` is kept.
    """
    values = sorted((v for v in secret_values if len(v) >= 4), key=len, reverse=True)
    paths = set(secret_paths)

    def walk(node: Any, loc: tuple[Any, ...], hide: bool) -> Any:
        if not hide and paths and loc and named_path(doc, loc) in paths:
            hide = True
        if isinstance(node, Mapping):
            return {key: walk(value, loc + (key,), hide or (redact_properties and key == "properties"))
                    for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, loc + (index,), hide) for index, item in enumerate(node)]
        if hide:
            return REDACTED
        if isinstance(node, str) and any(value in node for value in values):
            return REDACTED
        return node

    return walk(doc, (), False)


class _OneLineDumper(yaml.SafeDumper):
    """Block style, every scalar on one line (multi-line strings are double-quoted)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if "\n" in value or "\r" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_OneLineDumper.add_representer(str, _represent_str)


def _dump(key: Any, value: Any) -> list[str]:
    text = yaml.dump({key: value}, Dumper=_OneLineDumper, sort_keys=False,
                     default_flow_style=False, width=2**31, allow_unicode=True)
    return text.splitlines()


def _depth(line: str) -> int:
    """Nesting depth of a dumped line; a ``- `` item sits one level inside its key."""
    stripped = line.lstrip(" ")
    return (len(line) - len(stripped)) * 2 + (1 if stripped.startswith("- ") else 0)


def _section_diff(old: list[str], new: list[str], old_shown: list[str], new_shown: list[str]) -> list[str]:
    """Changed lines plus the lines that enclose them (so each change shows where it is)."""
    merged: list[tuple[str, str]] = []  # (mark, shown line)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            merged.extend((" ", old_shown[i]) for i in range(i1, i2))
            continue
        merged.extend(("-", old_shown[i]) for i in range(i1, i2))
        merged.extend(("+", new_shown[j]) for j in range(j1, j2))
    keep = [mark != " " for mark, _ in merged]
    for index, (mark, line) in enumerate(merged):
        if mark == " ":
            continue
        depth = _depth(line)
        for back in range(index - 1, -1, -1):
            back_mark, back_line = merged[back]
            if back_mark == " " and _depth(back_line) < depth:
                keep[back] = True
                depth = _depth(back_line)
            if depth == 0:
                break
    return [f"{mark} {line}" for (mark, line), shown in zip(merged, keep) if shown]


def diff(
    old_doc: Mapping[str, Any] | None,
    new_doc: Mapping[str, Any],
    *,
    secret_values: Collection[str] = (),
    secret_paths: Iterable[str] = (),
    redact_properties: bool = True,
) -> list[str]:
    """BOSH-style diff lines (``"+ ..."``, ``"- ..."``, context ``"  ..."``) by top-level
    section, in manifest order; an unchanged section prints nothing. Secrets are redacted
    as in :func:`redact` (``secret_paths`` apply to both documents). Like the BOSH director,
    every value under ``properties`` is redacted unless ``redact_properties=False`` (the
    CLI's ``--no-redact``): a password typed literally into a manifest is a secret too."""
    old_doc = old_doc or {}
    paths = list(secret_paths)
    old_shown_doc = redact(old_doc, secret_values, paths, redact_properties=redact_properties)
    new_shown_doc = redact(new_doc, secret_values, paths, redact_properties=redact_properties)
    keys = [key for key in SECTION_ORDER if key in old_doc or key in new_doc]
    keys += [key for key in [*old_doc, *new_doc] if key not in keys and key not in SECTION_ORDER]
    seen: set[Any] = set()
    lines: list[str] = []
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        if key in old_doc and key in new_doc and old_doc[key] == new_doc[key]:
            continue
        old = _dump(key, old_doc[key]) if key in old_doc else []
        new = _dump(key, new_doc[key]) if key in new_doc else []
        old_shown = _dump(key, old_shown_doc[key]) if key in old_doc else []
        new_shown = _dump(key, new_shown_doc[key]) if key in new_doc else []
        if len(old) != len(old_shown) or len(new) != len(new_shown):  # cannot happen; stay safe
            old, new = old_shown, new_shown
        lines.extend(_section_diff(old, new, old_shown, new_shown))
    return lines
