"""Who may see and change service instances and bindings, as in Cloud Foundry: an instance
belongs to a space and follows that space's app rules (tenancy/permissions.py: developers
change, auditors and org managers read); a binding follows its app, and its credentials are
shown only to those who may change the app. Brokers are the admin's alone.

Something the caller cannot see answers 404 (its existence is not revealed); something the
caller sees but may not change answers 403. Runs on the HTTP threads.
"""

from __future__ import annotations

from ..auth import ADMIN_SCOPE, WRITE_SCOPE, Identity
from ..db import DEFAULT_SPACE_GUID
from ..models import App, Space
from ..tenancy import errors as tenancy_errors
from ..tenancy import permissions
from ..tenancy.access import Access
from ..tenancy.permissions import Roles
from . import errors
from .models import ServiceBinding, ServiceInstance


class ServiceAccess:
    def __init__(self, access: Access) -> None:
        self.access = access

    def _rights(self, roles: Roles, space_guid: str | None) -> tuple[bool, bool]:
        """(may see, may change) the apps and service instances of a space."""
        if roles.admin:
            return True, True
        space = self.access.store.space(space_guid or DEFAULT_SPACE_GUID)
        if space is None:
            return False, False
        return (permissions.can_read_apps(roles, space.guid, space.organization_guid),
                permissions.can_write_apps(roles, space.guid))

    # -- brokers --------------------------------------------------------------------------

    @staticmethod
    def check_admin(who: Identity) -> None:
        if not who.admin:
            raise errors.not_authorized()

    # -- instances ------------------------------------------------------------------------

    def space_for_new_instance(self, who: Identity, space_guid: object) -> Space:
        """The space named by the request (the default space without one): the caller must
        see it (else 404) and be able to change its apps (else 403), as for a new app."""
        if space_guid is not None and (not isinstance(space_guid, str) or not space_guid):
            raise errors.instance_invalid("space_guid must be a space's guid")
        return self.access.space_for_new_app(who, space_guid)

    def check_instance(self, who: Identity, instance: ServiceInstance, write: bool) -> None:
        sees, changes = self._rights(self.access.roles(who), instance.space_guid)
        if not sees:
            raise errors.instance_not_found(instance.guid)
        if write and not changes:
            raise tenancy_errors.not_authorized()

    def readable_instances(self, who: Identity, instances: list[ServiceInstance]) -> list[ServiceInstance]:
        roles = self.access.roles(who)
        return [i for i in instances if self._rights(roles, i.space_guid)[0]]

    # -- bindings -------------------------------------------------------------------------

    def check_new_binding(self, who: Identity, app: App, instance: ServiceInstance) -> None:
        """Change rights on both the app and the instance, and both in one space (CF refuses
        to bind across spaces: an app must not get the credentials of another space's data)."""
        self.access.check_app(who, app, write=True)
        self.check_instance(who, instance, write=True)
        if (app.space_guid or DEFAULT_SPACE_GUID) != (instance.space_guid or DEFAULT_SPACE_GUID):
            raise errors.binding_invalid("the app and the service instance are in different spaces")

    def check_binding(self, who: Identity, binding: ServiceBinding, app: App | None,
                      instance: ServiceInstance | None, write: bool) -> bool:
        """Seeing a binding follows its app (404 otherwise); unbinding needs change rights on
        the app and the instance (403 otherwise). True when the credentials are shown."""
        roles = self.access.roles(who)
        sees, changes = self._rights(roles, app.space_guid) if app is not None else (False, False)
        if not sees:
            raise errors.binding_not_found(binding.guid)
        if write and not (changes and instance is not None and self._rights(roles, instance.space_guid)[1]):
            raise tenancy_errors.not_authorized()
        return self._shows_credentials(who, changes)

    @staticmethod
    def _shows_credentials(who: Identity, may_change_app: bool) -> bool:
        """Only to a token that may change things (write scope or admin) held by someone who
        may change the app: an auditor, or a developer's read-only token, sees no secret."""
        return (WRITE_SCOPE in who.scopes or ADMIN_SCOPE in who.scopes) and may_change_app

    def binding_views(self, who: Identity, bindings: list[ServiceBinding],
                      apps: dict[str, App]) -> list[tuple[ServiceBinding, bool]]:
        """The bindings the caller may see, each with whether its credentials are shown."""
        roles = self.access.roles(who)
        views = []
        for b in bindings:
            app = apps.get(b.app_guid)
            if app is None:
                continue
            sees, changes = self._rights(roles, app.space_guid)
            if sees:
                views.append((b, self._shows_credentials(who, changes)))
        return views
