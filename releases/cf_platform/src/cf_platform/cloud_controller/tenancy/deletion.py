"""Deleting a space or an org (``DELETE /v2/spaces/<guid>``, ``/v2/organizations/<guid>``).

:func:`plan` is pure (tests/cf/tenancy/test_deletion_plan.py runs it as a table): from what
is inside, and whether the request said ``recursive=true``, to the ordered steps, or the
CF-AssociationNotEmpty refusal. :class:`Deleter` carries the steps out on the HTTP thread
that asked, through the same paths a user's own deletes take:

1. each app: its service bindings unbound at the brokers first (the PostgreSQL broker drops
   the role), then deleted, its instances stopped, the routes only it used deleted
   (app_service.AppService.delete);
2. each service instance: any binding left unbound at its broker, then deprovisioned,
   synchronously (a broker that can only work asynchronously refuses, and the deletion
   stops there, as does any broker failure);
3. the space (its roles with it), and for an org, when every space is gone, the org.

A failure stops at the step that failed with that step's error; what was deleted stays
deleted, what was not stays, and deleting again carries on. A route bound to no app is in no
space here (routes have no space_guid in this CC) and is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import ApiError
from ..models import Organization, Space
from . import errors
from .store import TenancyStore

log = logging.getLogger(__name__)
GONE = ("CF-AppNotFound", "CF-ServiceInstanceNotFound")


@dataclass(frozen=True)
class SpaceContents:
    space: Space
    apps: tuple[tuple[str, str], ...] = ()         # (guid, name)
    instances: tuple[tuple[str, str], ...] = ()    # (guid, name)

    @property
    def empty(self) -> bool:
        return not self.apps and not self.instances


@dataclass(frozen=True)
class DeleteApp:
    guid: str
    name: str


@dataclass(frozen=True)
class DeleteInstance:
    guid: str
    name: str


@dataclass(frozen=True)
class DeleteSpace:
    guid: str
    name: str


@dataclass(frozen=True)
class DeleteOrg:
    guid: str
    name: str


Step = DeleteApp | DeleteInstance | DeleteSpace | DeleteOrg


class NotEmpty(Exception):
    def __init__(self, associations: list[str], of: str) -> None:
        super().__init__(f"{of}: {', '.join(associations)}")
        self.associations = associations
        self.of = of


def plan_space(contents: SpaceContents, recursive: bool) -> list[Step]:
    """Apps first (their bindings go with them), then instances, then the space."""
    if not recursive and not contents.empty:
        found = (["app_models"] if contents.apps else []) + (["service_instances"] if contents.instances else [])
        raise NotEmpty(found, "spaces")
    return [*(DeleteApp(g, n) for g, n in contents.apps), *(DeleteInstance(g, n) for g, n in contents.instances),
            DeleteSpace(contents.space.guid, contents.space.name)]


def plan_org(org: Organization, spaces: list[SpaceContents], recursive: bool) -> list[Step]:
    """Every space as :func:`plan_space` deletes it, then the org."""
    if not recursive and spaces:
        raise NotEmpty(["spaces"], "organizations")
    steps: list[Step] = []
    for contents in spaces:
        steps += plan_space(contents, recursive=True)
    return [*steps, DeleteOrg(org.guid, org.name)]


class Services(Protocol):
    """What the deleter needs of the service side (services/wiring.py's ServicesPart)."""

    def instances_in_space(self, space_guid: str) -> list[tuple[str, str]]: ...

    def delete_instance_now(self, guid: str) -> None: ...


@dataclass
class Deleter:
    store: TenancyStore
    delete_app: Callable[[str], None]               # app_service.AppService.delete
    services: Services | None = None                # plugged in by server.py once services start

    def contents(self, space: Space) -> SpaceContents:
        apps = tuple((a.guid, a.name) for a in self.store.db.apps_in_space(space.guid))
        instances = tuple(self.services.instances_in_space(space.guid)) if self.services is not None else ()
        return SpaceContents(space, apps, instances)

    def delete_space(self, space: Space, recursive: bool) -> None:
        self._run(plan_space(self.contents(space), recursive), f"space {space.name}")

    def delete_org(self, org: Organization, recursive: bool) -> None:
        spaces = [self.contents(s) for s in self.store.spaces(org.guid)]
        self._run(plan_org(org, spaces, recursive), f"org {org.name}")

    def _run(self, steps: list[Step], what: str) -> None:
        for step in steps:
            self._carry_out(step)
        log.info("deleted %s (%d step(s))", what, len(steps))

    def _carry_out(self, step: Step) -> None:
        try:
            if isinstance(step, DeleteApp):
                self.delete_app(step.guid)
                return
            if isinstance(step, DeleteInstance):
                assert self.services is not None
                self.services.delete_instance_now(step.guid)
                return
        except ApiError as e:
            if e.error_code not in GONE:    # deleted by someone else meanwhile: done too
                raise
            return
        if isinstance(step, DeleteSpace):
            if not self.store.delete_space(step.guid):   # something was made in it meanwhile
                raise errors.association_not_empty(["app_models", "service_instances"], "spaces")
        elif not self.store.delete_org(step.guid):
            raise errors.association_not_empty(["spaces"], "organizations")
