"""The order an instance group's changed instances are updated in (pure).

As BOSH documents the ``update`` block: canaries first, one at a time (taken in AZ order);
then each AZ in turn, the group's AZ order, in batches of at most ``max_in_flight``, so a
whole AZ is done before the next is touched. ``max_in_flight`` therefore applies per AZ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True)
class Batch(Generic[Item]):
    """Instances updated together; ``canary`` batches hold one instance each."""

    canary: bool
    az: str | None
    members: tuple[Item, ...]


def rollout_batches(items: list[tuple[str | None, int, Item]], az_order: list[str | None], canaries: int,
                    max_in_flight: int) -> list[Batch[Item]]:
    """``items`` are (az, index, instance); ``az_order`` the group's ``azs`` (an AZ not
    listed, such as one an instance kept after the list changed, goes last)."""
    position = {az: n for n, az in enumerate(az_order)}
    ordered = sorted(items, key=lambda item: (position.get(item[0], len(position)), str(item[0]), item[1]))
    size = max(1, max_in_flight)
    batches: list[Batch[Item]] = [Batch(True, az, (item,)) for az, _, item in ordered[:max(0, canaries)]]
    rest = ordered[max(0, canaries):]
    for az in dict.fromkeys(az for az, _, _ in rest):
        in_az = [item for item_az, _, item in rest if item_az == az]
        batches += [Batch(False, az, tuple(in_az[start:start + size])) for start in range(0, len(in_az), size)]
    return batches
