"""The problem types and their resolutions, as BOSH names them, and how the operator's
choice (``--auto``, ``--resolution TYPE=RESOLUTION``) picks one per problem. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

IGNORE = "ignore"

# type -> resolutions, the automatic one first (BOSH's auto_resolution; never a data loss)
RESOLUTIONS: dict[str, tuple[str, ...]] = {
    "missing_vm": ("recreate_vm", "delete_vm_reference", IGNORE),
    "unresponsive_agent": ("recreate_vm", "reboot_vm", "delete_vm_reference", IGNORE),
    "mount_info_mismatch": ("reattach_disk", "reattach_disk_and_reboot", IGNORE),
    "inactive_disk": (IGNORE, "delete_disk", "activate_disk"),
    "missing_disk": (IGNORE, "delete_disk_reference"),
    "unknown_vm": ("delete_vm", "forget", IGNORE),
}
FORGET = "forget"  # drop the record of a VM nothing can be found of (unknown_vms.py)


class ResolutionError(ValueError):
    pass


@dataclass(frozen=True)
class Problem:
    type: str
    description: str
    instance_id: int | None = None  # the instance row it concerns
    instance: str | None = None  # group/uuid, for people
    resource: str | None = None  # a VM cid, disk cid or agent id
    data: dict = field(default_factory=dict, compare=False, hash=False)
    resolutions: tuple[str, ...] = ()  # what this problem offers, automatic first; () means its type's

    @property
    def offered(self) -> tuple[str, ...]:
        return self.resolutions or RESOLUTIONS[self.type]

    def as_json(self) -> dict[str, object]:
        return {"type": self.type, "description": self.description, "instance": self.instance,
                "resource": self.resource, "resolutions": list(self.offered)}


def parse_resolutions(pairs: list[str] | dict[str, str]) -> dict[str, str]:
    """``["missing_vm=recreate_vm", ...]`` (or that mapping) checked against the table."""
    chosen = dict(pairs) if isinstance(pairs, dict) else {}
    if not isinstance(pairs, dict):
        for pair in pairs:
            kind, sep, resolution = str(pair).partition("=")
            if not sep:
                raise ResolutionError(f"resolution '{pair}': expected TYPE=RESOLUTION")
            chosen[kind] = resolution
    for kind, resolution in chosen.items():
        if kind not in RESOLUTIONS:
            raise ResolutionError(f"resolution type '{kind}': expected one of {', '.join(sorted(RESOLUTIONS))}")
        if resolution not in RESOLUTIONS[kind]:
            raise ResolutionError(f"resolution for {kind} '{resolution}': expected one of "
                                  f"{', '.join(RESOLUTIONS[kind])}")
    return chosen


def choose(problem: Problem, chosen: dict[str, str], auto: bool) -> str:
    """The resolution to apply: the operator's for this type, else the automatic one with
    ``--auto``, else ignore (a scan alone changes nothing). A resolution this problem does
    not offer (``delete_vm`` of a VM nothing can be found of) is never applied: ignore."""
    if problem.type in chosen:
        return chosen[problem.type] if chosen[problem.type] in problem.offered else IGNORE
    return problem.offered[0] if auto else IGNORE
