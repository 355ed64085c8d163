"""Safe YAML loading with errors that name the file, line and column.

The loader differs from ``yaml.safe_load`` in two ways, both to match what operators get
from the BOSH CLI (go-yaml): a key repeated in one mapping is an error instead of silently
keeping the last value, and dates stay strings (``version: 2024-01-01`` must not become a
``datetime`` that cannot be stored as JSON).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from bosh_py.manifest.errors import ManifestError

Kind = Literal["map", "list", "any"]


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamps and with duplicate-key detection."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key '{key}'",
                    key_node.start_mark,
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_KIND_NAMES = {dict: "map", list: "list", str: "string", int: "integer", float: "number",
               bool: "boolean", type(None): "null"}


def kind_name(value: Any) -> str:
    """The YAML word for a Python value's type, for messages."""
    for python_type, name in _KIND_NAMES.items():
        if type(value) is python_type:
            return name
    return type(value).__name__


def load_yaml(text: str | bytes, source: str | None = None, kind: Kind = "map") -> Any:
    """Parse one YAML document; ``kind`` says what the top level must be.

    Manifests, cloud-configs and vars files are maps; ops files are lists.
    """
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise ManifestError(f"{where}{problem}", source=source) from None
    except yaml.YAMLError as error:
        raise ManifestError(f"invalid YAML: {error}", source=source) from None
    expected = {"map": dict, "list": list}.get(kind)
    if expected is not None and not isinstance(doc, expected):
        found = "an empty document" if doc is None else kind_name(doc)
        raise ManifestError(f"expected a {kind} at the top level, found {found}", source=source)
    return doc


def load_yaml_file(path: str | Path, kind: Kind = "map") -> Any:
    """Read and parse a file given by the operator; errors carry the file's name."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ManifestError(f"cannot read file: {error.strerror}", source=str(path)) from None
    return load_yaml(text, str(path), kind)
