"""From one change of an app's desired state to what the DEAs must be told. Pure logic.

Rules (the classic cloud controller's):

- STARTED -> STOPPED: stop every instance.
- Not started: nothing.
- Started with new bits not yet staged: stage (staging starts the instances when it ends).
- Started, staged, and newly started or given a new version (memory, disk, environment or
  droplet changed): stop the old version's instances (if it ran), start every index of the
  new one.
- More instances: start the new indices; fewer: stop the indices beyond the count.

The actions are carried out in order, under the app's lock (app_service.py), so a stop
never overtakes the start it follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import PENDING, STAGED, STARTED, STOPPED, App


@dataclass(frozen=True)
class Stop:
    """Stop instances of the app: all, one version's, or the given indices."""
    what: str
    version: str | None = None
    indices: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Start:
    """Start these indices of this version (skipped if the app changed meanwhile)."""
    what: str
    version: str
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Stage:
    """Stage the app's bits, then start its instances."""
    what: str = "staging"


Action = Stop | Start | Stage


def plan(old: App, new: App) -> list[Action]:
    """What to do about the change from ``old`` to ``new`` (same app)."""
    if old.state == STARTED and new.state == STOPPED:
        return [Stop("stop")]
    if new.state != STARTED:
        return []
    if new.package_state == PENDING:
        return [Stage()] if new.bits_sha1 is not None else []
    if new.package_state != STAGED:
        return []
    if old.state == STOPPED or old.version != new.version:
        actions: list[Action] = []
        if old.state == STARTED:
            actions.append(Stop("stop old version", version=old.version))
        actions.append(Start("start", new.version, tuple(range(new.instances))))
        return actions
    if new.instances > old.instances:
        return [Start("scale up", new.version, tuple(range(old.instances, new.instances)))]
    if new.instances < old.instances:
        return [Stop("scale down", indices=tuple(range(new.instances, old.instances)))]
    return []
