"""The `update` block resolved for one instance group (group values override deployment's).

bosh-py applies canaries and max_in_flight per instance group, not per AZ as BOSH does
(bosh#1331): "max_in_flight: 2" means two instances of the group at once, whatever their AZ.
The value parsing is the manifest package's; validation has already vouched for the values.
"""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.manifest.update import parse_percent_or_int, parse_watch_time


@dataclass(frozen=True)
class UpdateConfig:
    canaries: int
    max_in_flight: int
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
