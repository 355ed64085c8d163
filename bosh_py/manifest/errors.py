"""ManifestError and the rule for naming a place in a manifest.

Path rule (one rule for every error, so operators can predict it): steps are joined with
``/``. An item of a *top-level* list (``instance_groups``, ``releases``, ``variables``,
``addons``, and in a cloud-config ``azs``, ``networks``, ``vm_types``, ``vm_extensions``,
``disk_types``) is named by its ``name`` (``alias`` for ``stemcells``), because those names
are unique and are what operators grep for. Anything deeper (``jobs``, an instance group's
``networks``, ``subnets``, ``static_ips``) is named by its index, e.g.
``instance_groups/router/jobs/0/properties/port``. A top-level item whose name is missing,
not a string, contains ``/``, or is shared with a sibling falls back to its index
(so ``duplicate instance group name`` errors point at the second one exactly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bosh_py.errors import BoshPyError

_NAME_KEY_BY_SECTION = {"stemcells": "alias"}

PathStep = str | int


class ManifestError(BoshPyError):
    """A manifest, cloud-config, ops file or vars file is wrong at a named place.

    ``str()`` is ``"<source>: <path>: <message>"`` with empty parts left out; when several
    problems were found at once (validation reports them all), ``details`` holds every one
    and ``str()`` has one line per problem.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        source: str | None = None,
        details: Sequence[ManifestError] = (),
    ) -> None:
        self.message = message
        self.path = path
        self.source = source
        self.details: tuple[ManifestError, ...] = tuple(details) or (self,)
        super().__init__(str(self))

    def line(self) -> str:
        return ": ".join(part for part in (self.source, self.path, self.message) if part)

    def __str__(self) -> str:
        return "\n".join(error.line() for error in self.details)

    @classmethod
    def collect(cls, errors: Sequence[ManifestError]) -> ManifestError:
        """One exception that carries several problems; the first gives path/message."""
        first = errors[0]
        return cls(first.message, path=first.path, source=first.source, details=errors)


def item_label(doc: Any, section: PathStep, items: Sequence[Any], index: int) -> str:
    """The path step for ``items[index]`` where ``items`` is ``doc[section]``."""
    if isinstance(section, str) and isinstance(doc, Mapping) and doc.get(section) is items:
        key = _NAME_KEY_BY_SECTION.get(section, "name")
        item = items[index] if 0 <= index < len(items) else None
        name = item.get(key) if isinstance(item, Mapping) else None
        if isinstance(name, str) and name and "/" not in name:
            same = sum(1 for other in items if isinstance(other, Mapping) and other.get(key) == name)
            if same == 1:
                return name
    return str(index)


def named_path(doc: Any, loc: Iterable[PathStep]) -> str:
    """Turn raw steps (keys and list indices) into the documented path.

    Steps that do not exist in ``doc`` before the last one are skipped: pydantic inserts
    union tags (``manual``, ``dynamic``) into its locations, and those are not in the YAML.
    """
    steps = list(loc)
    parts: list[str] = []
    node: Any = doc
    for depth, step in enumerate(steps):
        last = depth == len(steps) - 1
        if isinstance(node, list) and isinstance(step, int):
            label = item_label(doc, steps[0], node, step) if depth == 1 else str(step)
            parts.append(label)
            node = node[step] if -len(node) <= step < len(node) else None
        elif isinstance(node, Mapping) and step in node:
            parts.append(str(step))
            node = node[step]
        elif isinstance(node, Mapping) and not last:
            continue
        else:
            parts.append(str(step))
            node = None
    return "/".join(parts)


def join_path(*parts: PathStep) -> str:
    """Join already named steps, skipping empty ones."""
    return "/".join(str(part) for part in parts if part != "")
