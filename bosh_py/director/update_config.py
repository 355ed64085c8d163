"""The `update` block, resolved for one instance group (group values override deployment's).

bosh-py applies canaries and max_in_flight per instance group, not per AZ as BOSH does
(bosh#1331): "max_in_flight: 2" means two instances of the group at once, whatever their AZ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class UpdateConfig:
    canaries: int
    max_in_flight: int
    canary_watch_time: tuple[int, int]  # ms (low, high)
    update_watch_time: tuple[int, int]
    serial: bool
    vm_strategy: str


def count_of(value: int | str, size: int, minimum: int) -> int:
    if isinstance(value, str) and value.strip().endswith("%"):
        number = math.floor(float(value.strip()[:-1]) * size / 100)
    else:
        number = int(value)
    return max(minimum, number)


def watch_time(value: int | str) -> tuple[int, int]:
    if isinstance(value, str) and "-" in value:
        low, high = (int(part.strip()) for part in value.split("-", 1))
        return low, high
    return int(value), int(value)


def resolve_update(deployment_update: dict, group_update: dict | None, size: int) -> UpdateConfig:
    merged = {**(deployment_update or {}), **(group_update or {})}
    return UpdateConfig(
        canaries=min(size, count_of(merged.get("canaries", 1), size, 0)),
        max_in_flight=count_of(merged.get("max_in_flight", 1), size, 1),
        canary_watch_time=watch_time(merged.get("canary_watch_time", "1000-30000")),
        update_watch_time=watch_time(merged.get("update_watch_time", "1000-30000")),
        serial=bool(merged.get("serial", True)),
        vm_strategy=str(merged.get("vm_strategy", "delete-create")),
    )
