"""The instances this DEA knows, and the questions NATS messages ask about them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from .instance import Instance, State


@dataclass
class InstanceRegistry:
    instances: dict[str, Instance] = field(default_factory=dict)

    def add(self, instance: Instance) -> None:
        self.instances[instance.instance_id] = instance

    def remove(self, instance_id: str) -> Instance | None:
        return self.instances.pop(instance_id, None)

    def get(self, instance_id: str) -> Instance | None:
        return self.instances.get(instance_id)

    def __iter__(self):
        return iter(list(self.instances.values()))

    def __len__(self) -> int:
        return len(self.instances)

    def active(self) -> list[Instance]:
        return [i for i in self if i.active]

    def reserved_memory_mb(self) -> int:
        return sum(i.limits.mem for i in self.active())

    def reserved_disk_mb(self) -> int:
        return sum(i.limits.disk for i in self.active())

    def app_id_to_count(self) -> dict[str, int]:
        return dict(Counter(i.droplet for i in self.active()))

    def matching(self, message: dict[str, Any]) -> list[Instance]:
        """Instances a ``dea.stop``/``dea.find.droplet``/``dea.update`` message names:
        ``droplet`` always, then optional ``version``, ``instances`` (ids), ``indices`` and
        ``states`` filters, each ignored when absent or null."""
        droplet = message.get("droplet")
        version = message.get("version")
        ids = _as_set(message.get("instances") or message.get("instance_ids"))
        indices = _as_set(message.get("indices"), int)
        states = _as_set(message.get("states"), str)
        found = []
        for instance in self:
            if instance.droplet != droplet:
                continue
            if version is not None and instance.version != str(version):
                continue
            if ids is not None and instance.instance_id not in ids:
                continue
            if indices is not None and instance.index not in indices:
                continue
            if states is not None and instance.state.value not in states:
                continue
            found.append(instance)
        return found

    def in_states(self, states: Iterable[State]) -> list[Instance]:
        wanted = set(states)
        return [i for i in self if i.state in wanted]


def _as_set(value: Any, kind: type = str) -> set | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        value = [value]
    result = set()
    for item in value:
        try:
            result.add(kind(item))
        except (TypeError, ValueError):
            continue
    return result
