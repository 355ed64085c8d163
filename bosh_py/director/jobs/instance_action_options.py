"""The flags of `bosh-py start|stop|restart|recreate` as the API takes them, checked before a
task starts. ``restart`` and ``recreate`` roll out like a deploy, so they take a deploy's
``canaries``, ``max_in_flight`` and ``dry_run``; ``recreate`` also ``fix`` (BOSH's
`recreate --fix`). A flag the action cannot honour is refused by name, never ignored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bosh_py.director.api_errors import ApiError, bool_field
from bosh_py.manifest.update import check_flag

ROLLOUT_ACTIONS = ("restart", "recreate")


@dataclass(frozen=True)
class InstanceActionOptions:
    skip_drain: bool = False
    canaries: int | str | None = None  # overrides every group's update.canaries
    max_in_flight: int | str | None = None  # overrides every group's update.max_in_flight
    dry_run: bool = False  # print the rollout, touch nothing
    fix: bool = False  # recreate: replace VMs whose agent does not answer instead of failing


def instance_action_options(action: str, body: dict[str, Any]) -> InstanceActionOptions:
    try:
        canaries = check_flag("canaries", body.get("canaries"))
        max_in_flight = check_flag("max_in_flight", body.get("max_in_flight"))
    except ValueError as error:
        raise ApiError(str(error)) from None
    options = InstanceActionOptions(skip_drain=bool_field(body, "skip_drain"), canaries=canaries,
                                    max_in_flight=max_in_flight, dry_run=bool_field(body, "dry_run"),
                                    fix=bool_field(body, "fix"))
    given = {"canaries": canaries is not None, "max_in_flight": max_in_flight is not None,
             "dry_run": options.dry_run, "fix": options.fix, "skip_drain": options.skip_drain}
    rollout = {"skip_drain", "canaries", "max_in_flight", "dry_run"}
    allowed = {"start": set(), "stop": {"skip_drain"}, "restart": rollout, "recreate": rollout | {"fix"}}[action]
    for name, present in given.items():
        if present and name not in allowed:
            raise ApiError(f"{name}: not an option of '{action}'"
                           + (f" (it takes {', '.join(sorted(allowed))})" if allowed else ""))
    return options
