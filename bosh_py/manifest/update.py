"""Numbers the planner and updater need from ``update`` blocks.

Rule for ``canaries`` and ``max_in_flight`` percentages: computed over the whole instance
group (its ``instances``). As BOSH documents it, ``max_in_flight`` then applies per AZ: the
director updates one AZ at a time, at most ``max_in_flight`` of its instances at once
(bosh_py/director/stages/rollout.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bosh_py.manifest.models import InstanceGroup, UpdateConfig

DEFAULT_SERIAL = True
DEFAULT_VM_STRATEGY: Literal["delete-create"] = "delete-create"


def parse_percent_or_int(value: int | str, size: int, minimum: int = 0) -> int:
    """``5`` → 5; ``"25%"`` of ``size`` → floor(25 * size / 100); never below ``minimum``.

    Use ``minimum=1`` for max_in_flight (an update must make progress) and the default 0
    for canaries. The result is not capped at ``size``; callers take ``min`` as needed.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected integer or percentage, found {value!r}")
    if isinstance(value, int):
        return max(value, minimum)
    match = re.fullmatch(r"\s*(\d+)\s*%\s*", value)
    if match:
        return max(int(match.group(1)) * size // 100, minimum)
    if re.fullmatch(r"\s*\d+\s*", value):
        return max(int(value), minimum)
    raise ValueError(f"expected integer or percentage like '25%', found '{value}'")


def parse_watch_time(value: int | str) -> tuple[int, int]:
    """``1000`` or ``"1000"`` → (1000, 1000); ``"1000-30000"`` → (1000, 30000), in ms.

    The updater sleeps ``low``, then polls until the jobs run, giving up at ``high``.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected milliseconds, found {value!r}")
    if isinstance(value, int):
        return value, value
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", value)
    if not match:
        raise ValueError(f"expected milliseconds or a range like '1000-30000', found '{value}'")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if low > high:
        raise ValueError(f"range start {low} is greater than its end {high}")
    return low, high


def check_flag(name: str, value: object) -> int | str | None:
    """A `--canaries`/`--max-in-flight` value as given (an integer or "25%"), or ValueError
    naming the flag; checked before the task starts."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{name}: expected integer or percentage like '25%', found {value!r}")
    try:
        parse_percent_or_int(value, 100)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{name}: expected a number not below 0, found {value}")
    return value


@dataclass(frozen=True)
class ResolvedUpdate:
    """The effective update settings of one instance group, as numbers."""

    canaries: int
    max_in_flight: int
    canary_watch_time: tuple[int, int]
    update_watch_time: tuple[int, int]
    serial: bool
    vm_strategy: Literal["delete-create", "create-swap-delete"]


def resolve_update(deployment: UpdateConfig, group: InstanceGroup) -> ResolvedUpdate:
    """The group's ``update`` keys over the deployment's, percentages over the group size."""
    override = group.update

    def pick(key: str):  # noqa: ANN202 - the field's own type
        value = getattr(override, key, None) if override is not None else None
        return getattr(deployment, key) if value is None else value

    size = group.instances
    return ResolvedUpdate(
        canaries=min(parse_percent_or_int(pick("canaries"), size), size),
        max_in_flight=parse_percent_or_int(pick("max_in_flight"), size, minimum=1),
        canary_watch_time=parse_watch_time(pick("canary_watch_time")),
        update_watch_time=parse_watch_time(pick("update_watch_time")),
        serial=DEFAULT_SERIAL if pick("serial") is None else pick("serial"),
        vm_strategy=pick("vm_strategy") or DEFAULT_VM_STRATEGY,
    )
