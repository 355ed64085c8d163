"""The order `bosh-py restart` goes through its instances (pure): as a deploy rolls out
(stages/rollout.py), each group in the manifest's order, canaries first, then each AZ in
batches of ``max_in_flight``, with the deployed manifest's ``update`` block and the
command's ``--canaries``/``--max-in-flight`` over it. A restart must not take down more of
a group at once than a deploy of it would."""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.director.models import Instance
from bosh_py.director.stages.rollout import Batch, rollout_batches
from bosh_py.director.update_config import UpdateConfig, resolve_update, with_flag_overrides


@dataclass(frozen=True)
class GroupRollout:
    group: str
    update: UpdateConfig
    batches: list[Batch[Instance]]


def restart_rollout(rows: list[Instance], manifest: dict, canaries: int | str | None,
                    max_in_flight: int | str | None) -> list[GroupRollout]:
    """``rows`` the chosen instances; ``manifest`` the deployed one (percentages are of the
    group's ``instances``; AZs in the group's ``azs`` order)."""
    groups = {g.get("name"): g for g in manifest.get("instance_groups") or [] if isinstance(g, dict)}
    order = [name for name in groups if any(r.group == name for r in rows)]
    order += sorted({r.group for r in rows} - set(order))  # a group no longer in the manifest goes last
    result = []
    for name in order:
        doc = groups.get(name) or {}
        members = [r for r in rows if r.group == name]
        size = int(doc.get("instances") or len(members))
        update = with_flag_overrides(resolve_update(manifest.get("update") or {}, doc.get("update"), size),
                                     canaries, max_in_flight, size)
        az_order: list[str | None] = list(doc.get("azs") or [])
        batches = rollout_batches([(r.az, r.index, r) for r in members], az_order, update.canaries,
                                  update.max_in_flight)
        result.append(GroupRollout(name, update, batches))
    return result


def describe_batch(group: str, number: int, batch: Batch[Instance]) -> str:
    """The line deploys write for each batch too: ``Rollout of web: batch 2 (az z1): web/2``."""
    kind = "canary" if batch.canary else f"batch {number}"
    members = ", ".join(f"{r.group}/{r.index}" for r in batch.members)
    return f"Rollout of {group}: {kind} (az {batch.az or '-'}): {members}"
