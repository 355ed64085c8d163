"""The `update` block resolved for one instance group (group values override deployment's),
with the deploy flags `--canaries` and `--max-in-flight` over both.

As BOSH documents it: canaries go first, one at a time; then ``max_in_flight`` instances
at once within one AZ, AZs one after another (stages/rollout.py). Percentages are taken of
the group's size; max_in_flight never rounds below 1. The value parsing is the manifest
package's; validation has already vouched for the manifest's values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bosh_py.manifest.update import parse_percent_or_int, parse_watch_time


@dataclass(frozen=True)
class UpdateConfig:
    canaries: int
    max_in_flight: int  # per AZ
    canary_watch_time: tuple[int, int]  # ms (low, high)
    update_watch_time: tuple[int, int]
    serial: bool
    vm_strategy: str


def resolve_update(deployment_update: dict, group_update: dict | None, size: int) -> UpdateConfig:
    merged = {**(deployment_update or {}), **(group_update or {})}
    return UpdateConfig(
        canaries=min(size, parse_percent_or_int(merged.get("canaries", 1), size)),
        max_in_flight=parse_percent_or_int(merged.get("max_in_flight", 1), size, minimum=1),
        canary_watch_time=parse_watch_time(merged.get("canary_watch_time", "1000-30000")),
        update_watch_time=parse_watch_time(merged.get("update_watch_time", "1000-30000")),
        serial=bool(merged.get("serial", True)),
        vm_strategy=str(merged.get("vm_strategy", "delete-create")),
    )


def with_flag_overrides(update: UpdateConfig, canaries: int | str | None, max_in_flight: int | str | None,
                        size: int) -> UpdateConfig:
    """The deploy flags override every group's values (as BOSH's `deploy --canaries`)."""
    changes: dict[str, int] = {}
    if canaries is not None:
        changes["canaries"] = min(size, parse_percent_or_int(canaries, size))
    if max_in_flight is not None:
        changes["max_in_flight"] = parse_percent_or_int(max_in_flight, size, minimum=1)
    return dataclasses.replace(update, **changes) if changes else update
