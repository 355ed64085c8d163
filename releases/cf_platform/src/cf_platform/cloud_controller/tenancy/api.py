"""``/v2/organizations``, ``/v2/spaces`` and ``/v2/users``: Cloud Foundry v2's shapes for
creating and deleting orgs and spaces (``?recursive=true`` deletes what is inside:
deletion.py), listing what the caller may see, and giving roles by user name
(``PUT /v2/spaces/<guid>/developers`` with ``{"username": ...}``, as the cf CLI does).
Runs on the HTTP threads; every decision is permissions.py's.
"""

from __future__ import annotations

from typing import Any

from .. import presenters
from ..db import DEFAULT_ORG_GUID, DEFAULT_SPACE_GUID
from ..models import (
    ORG_MANAGER,
    ORG_USER,
    SPACE_AUDITOR,
    SPACE_DEVELOPER,
    Organization,
    Space,
    User,
)
from ..web import Request, Response, Router
from . import errors, permissions
from .access import Access
from .deletion import Deleter, NotEmpty
from .store import NameTaken, TenancyStore

ORG_ROLE_PATHS = {"managers": ORG_MANAGER, "users": ORG_USER}
SPACE_ROLE_PATHS = {"developers": SPACE_DEVELOPER, "auditors": SPACE_AUDITOR}
MAX_NAME = 255


def _filters(request: Request) -> dict[str, str]:
    """``?q=name:foo&q=organization_guid:bar`` (v2's filter syntax, equality only)."""
    found = {}
    for q in request.query.get("q", []):
        key, sep, value = q.partition(":")
        if sep:
            found[key] = value
    return found


def _recursive(request: Request) -> bool:
    """``?recursive=true`` (what `cf delete-space` and `cf delete-org` send)."""
    return (request.query.get("recursive") or [""])[0] == "true"


def _name(body: dict, invalid: Any) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise invalid("name must be a non-empty string of printable characters (at most 255)")
    return name.strip()


class TenancyApi:
    def __init__(self, store: TenancyStore, access: Access, deleter: Deleter) -> None:
        self.store = store
        self.access = access
        self.deleter = deleter

    def register(self, router: Router) -> None:
        g = self.access.guard
        router.add("GET", "/v2/organizations", g(self.list_orgs))
        router.add("POST", "/v2/organizations", g(self.create_org))
        router.add("GET", "/v2/organizations/<guid>", g(self.get_org))
        router.add("DELETE", "/v2/organizations/<guid>", g(self.delete_org))
        router.add("GET", "/v2/organizations/<guid>/spaces", g(self.org_spaces))
        router.add("GET", "/v2/spaces", g(self.list_spaces))
        router.add("POST", "/v2/spaces", g(self.create_space))
        router.add("GET", "/v2/spaces/<guid>", g(self.get_space))
        router.add("DELETE", "/v2/spaces/<guid>", g(self.delete_space))
        router.add("POST", "/v2/users", g(self.create_user))
        for path in ORG_ROLE_PATHS:
            router.add("PUT", f"/v2/organizations/<guid>/{path}", g(self.give_org_role))
            router.add("GET", f"/v2/organizations/<guid>/{path}", g(self.org_role_holders))
        for path in SPACE_ROLE_PATHS:
            router.add("PUT", f"/v2/spaces/<guid>/{path}", g(self.give_space_role))
            router.add("GET", f"/v2/spaces/<guid>/{path}", g(self.space_role_holders))

    # -- organizations --------------------------------------------------------------------

    def _visible_org(self, request: Request, guid: str) -> Organization:
        org = self.store.org(guid)
        if org is None or not permissions.can_see_org(self.access.roles(request.identity), org.guid):
            raise errors.org_not_found(guid)
        return org

    def list_orgs(self, request: Request) -> Response:
        roles = self.access.roles(request.identity)
        orgs = [o for o in self.store.orgs() if permissions.can_see_org(roles, o.guid)]
        name = _filters(request).get("name")
        if name is not None:
            orgs = [o for o in orgs if o.name == name]
        return Response.json(presenters.page(presenters.organization(o) for o in orgs))

    def create_org(self, request: Request) -> Response:
        if not request.identity.admin:        # as CF's default: only admins create orgs
            raise errors.not_authorized()
        name = _name(request.json(), errors.org_invalid)
        try:
            org = self.store.create_org(name)
        except NameTaken:
            raise errors.org_name_taken(name) from None
        return Response.json(presenters.organization(org), 201)

    def get_org(self, request: Request) -> Response:
        return Response.json(presenters.organization(self._visible_org(request, request.params["guid"])))

    def delete_org(self, request: Request) -> Response:
        org = self._visible_org(request, request.params["guid"])
        if not permissions.can_delete_org(self.access.roles(request.identity)):
            raise errors.not_authorized()
        if org.guid == DEFAULT_ORG_GUID:
            raise errors.default_not_deletable("org")
        try:
            self.deleter.delete_org(org, _recursive(request))
        except NotEmpty as e:
            raise errors.association_not_empty(e.associations, e.of) from None
        return Response(204)

    def org_spaces(self, request: Request) -> Response:
        org = self._visible_org(request, request.params["guid"])
        return Response.json(presenters.page(presenters.space(s) for s in self._visible_spaces(request, org.guid)))

    # -- spaces ---------------------------------------------------------------------------

    def _visible_spaces(self, request: Request, org_guid: str | None = None) -> list[Space]:
        roles = self.access.roles(request.identity)
        return [s for s in self.store.spaces(org_guid)
                if permissions.can_see_space(roles, s.guid, s.organization_guid)]

    def _visible_space(self, request: Request, guid: str) -> Space:
        space = self.store.space(guid)
        roles = self.access.roles(request.identity)
        if space is None or not permissions.can_see_space(roles, space.guid, space.organization_guid):
            raise errors.space_not_found(guid)
        return space

    def list_spaces(self, request: Request) -> Response:
        f = _filters(request)
        spaces = self._visible_spaces(request, f.get("organization_guid"))
        if "name" in f:
            spaces = [s for s in spaces if s.name == f["name"]]
        return Response.json(presenters.page(presenters.space(s) for s in spaces))

    def create_space(self, request: Request) -> Response:
        body = request.json()
        name = _name(body, errors.space_invalid)
        org_guid = body.get("organization_guid")
        if not isinstance(org_guid, str) or not org_guid:
            raise errors.space_invalid("organization_guid is required")
        org = self._visible_org(request, org_guid)
        if not permissions.can_manage_org(self.access.roles(request.identity), org.guid):
            raise errors.not_authorized()
        try:
            space = self.store.create_space(name, org.guid)
        except NameTaken:
            raise errors.space_name_taken(name) from None
        return Response.json(presenters.space(space), 201)

    def get_space(self, request: Request) -> Response:
        return Response.json(presenters.space(self._visible_space(request, request.params["guid"])))

    def delete_space(self, request: Request) -> Response:
        space = self._visible_space(request, request.params["guid"])
        if not permissions.can_delete_space(self.access.roles(request.identity), space.organization_guid):
            raise errors.not_authorized()
        if space.guid == DEFAULT_SPACE_GUID:
            raise errors.default_not_deletable("space")
        try:
            self.deleter.delete_space(space, _recursive(request))
        except NotEmpty as e:
            raise errors.association_not_empty(e.associations, e.of) from None
        return Response(204)

    # -- users and roles ------------------------------------------------------------------

    def create_user(self, request: Request) -> Response:
        """Make a UAA user known to the CC (``cf create-user``: the UAA user first, then this)."""
        if not request.identity.admin:
            raise errors.not_authorized()
        body = request.json()
        guid, username = body.get("guid"), body.get("username")
        if not isinstance(guid, str) or not guid or len(guid) > MAX_NAME:
            raise errors.user_invalid("guid (the UAA user's id) is required")
        if not isinstance(username, str) or not username or len(username) > MAX_NAME:
            raise errors.user_invalid("username is required")
        return Response.json(presenters.user(self.store.remember_user(guid, username)), 201)

    def _user_named(self, request: Request) -> User:
        username = request.json().get("username")
        if not isinstance(username, str) or not username:
            raise errors.user_invalid("username is required")
        user = self.store.user_by_name(username)
        if user is None:
            raise errors.user_not_found(f"{username} (create it with `cf-py create-user`, or let it log in once)")
        return user

    def _role_of_path(self, request: Request, roles: dict[str, str]) -> str:
        return roles[request.path.rstrip("/").rsplit("/", 1)[1]]

    def give_org_role(self, request: Request) -> Response:
        org = self._visible_org(request, request.params["guid"])
        if not permissions.can_manage_org(self.access.roles(request.identity), org.guid):
            raise errors.not_authorized()
        user = self._user_named(request)
        self.store.add_org_role(org.guid, user.guid, self._role_of_path(request, ORG_ROLE_PATHS))
        return Response.json(presenters.organization(org), 201)

    def org_role_holders(self, request: Request) -> Response:
        org = self._visible_org(request, request.params["guid"])
        users = self.store.role_holders("org", org.guid, self._role_of_path(request, ORG_ROLE_PATHS))
        return Response.json(presenters.page(presenters.user(u) for u in users))

    def give_space_role(self, request: Request) -> Response:
        space = self._visible_space(request, request.params["guid"])
        if not permissions.can_manage_org(self.access.roles(request.identity), space.organization_guid):
            raise errors.not_authorized()
        user = self._user_named(request)
        self.store.add_space_role(space, user.guid, self._role_of_path(request, SPACE_ROLE_PATHS))
        return Response.json(presenters.space(space), 201)

    def space_role_holders(self, request: Request) -> Response:
        space = self._visible_space(request, request.params["guid"])
        users = self.store.role_holders("space", space.guid, self._role_of_path(request, SPACE_ROLE_PATHS))
        return Response.json(presenters.page(presenters.user(u) for u in users))
