"""The gate in front of every public v2 handler: the bearer token, the scope its method
needs (``cloud_controller.read`` to read, ``.write`` to change, ``.admin`` for either), and
the caller's roles on the app or space a request names. Runs on the HTTP threads.

Apps of a space the caller cannot see answer 404, as in Cloud Foundry (their existence is
not revealed); apps the caller sees but may not change answer 403.
"""

from __future__ import annotations

import threading

from .. import errors as cc_errors
from ..auth import (
    ADMIN_SCOPE,
    READ_SCOPE,
    WRITE_SCOPE,
    Authenticator,
    Identity,
    TokenError,
    bearer_token,
)
from ..db import DEFAULT_SPACE_GUID
from ..models import App, Space
from ..web import Handler, Request, Response
from . import errors, permissions
from .permissions import Roles
from .store import TenancyStore

READ_METHODS = ("GET", "HEAD")


class Access:
    def __init__(self, store: TenancyStore, tokens: Authenticator) -> None:
        self.store = store
        self.tokens = tokens
        self._known_users: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    # -- the token and its scope ----------------------------------------------------------

    def guard(self, handler: Handler, app: bool = False) -> Handler:
        """Wrap ``handler``: a valid token with the method's scope; with ``app``, the caller
        may see (and for a change, write) the app ``<guid>`` of the path."""
        def check(request: Request) -> Response:
            who = self.identify(request)
            if app:
                self.check_app_guid(who, request.params["guid"], write=request.method not in READ_METHODS)
            return handler(request)
        return check

    def identify(self, request: Request) -> Identity:
        token = bearer_token(request.header("Authorization"))
        if token is None:
            raise cc_errors.invalid_auth_token("Invalid Auth Token: an 'Authorization: bearer <token>' header "
                                               "is required (get one with `cf-py login`)")
        try:
            who = self.tokens.verify(token)
        except TokenError as e:
            raise cc_errors.invalid_auth_token(str(e)) from None
        needed = READ_SCOPE if request.method in READ_METHODS else WRITE_SCOPE
        if needed not in who.scopes and ADMIN_SCOPE not in who.scopes:
            raise errors.insufficient_scope(needed)
        self._remember(who)
        request.identity = who
        return who

    def _remember(self, who: Identity) -> None:
        """Users the CC has seen a token of can be given roles by name."""
        if not who.user_id or not who.user_name:
            return
        key = (who.user_id, who.user_name)
        with self._lock:
            if key in self._known_users:
                return
        self.store.remember_user(who.user_id, who.user_name)
        with self._lock:
            self._known_users.add(key)

    def roles(self, who: Identity) -> Roles:
        return self.store.roles_of(who.user_id, who.admin)

    # -- apps -----------------------------------------------------------------------------

    def check_app_guid(self, who: Identity, guid: str, write: bool) -> None:
        app = self.store.db.get_app(guid)
        if app is None:
            raise cc_errors.app_not_found(guid)
        self.check_app(who, app, write)

    def check_app(self, who: Identity, app: App, write: bool) -> None:
        if who.admin:
            return
        roles = self.roles(who)
        space = self.store.space(app.space_guid or DEFAULT_SPACE_GUID)
        if space is None or not permissions.can_read_apps(roles, space.guid, space.organization_guid):
            raise cc_errors.app_not_found(app.guid)
        if write and not permissions.can_write_apps(roles, space.guid):
            raise errors.not_authorized()

    def readable_apps(self, who: Identity, apps: list[App]) -> list[App]:
        if who.admin:
            return apps
        roles = self.roles(who)
        orgs = {s.guid: s.organization_guid for s in self.store.spaces()}
        return [a for a in apps if a.space_guid in orgs
                and permissions.can_read_apps(roles, a.space_guid, orgs[a.space_guid])]

    def space_for_new_app(self, who: Identity, space_guid: object) -> Space:
        """The space an app is created in (the default space when the request names none);
        the caller must be able to write apps there."""
        if space_guid is None:
            space_guid = DEFAULT_SPACE_GUID
        if not isinstance(space_guid, str) or not space_guid:
            raise cc_errors.app_invalid("space_guid must be a space's guid")
        space = self.store.space(space_guid)
        roles = self.roles(who)
        if space is None or not permissions.can_see_space(roles, space.guid, space.organization_guid):
            raise errors.space_not_found(space_guid)
        if not permissions.can_write_apps(roles, space.guid):
            raise errors.not_authorized()
        return space
