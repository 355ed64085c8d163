"""Minimal SCIM: create, find, update (password, active) and delete users; group members.

Every call needs a bearer token from this UAA: ``scim.write`` to change anything,
``scim.read`` or ``scim.write`` to read. Filters: only ``userName eq "x"`` and
``displayName eq "x"`` (what ``cf create-user`` and role assignment need); anything else is
refused as invalid_filter rather than guessed at.
"""

from __future__ import annotations

import re
from typing import Any

from . import errors, passwords
from .store import Conflict, Group, Store, User
from .tokens import TokenService, scopes
from .web import Request, Response, Router

SCHEMA_USER = "urn:scim:schemas:core:1.0"
FILTER = re.compile(r'^\s*(\w+)\s+eq\s+"([^"]*)"\s*$', re.IGNORECASE)
USER_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,255}$")


class ScimApi:
    def __init__(self, tokens: TokenService, default_groups: tuple[str, ...]) -> None:
        self.tokens = tokens
        self.store: Store = tokens.store
        self.default_groups = default_groups

    def register(self, router: Router) -> None:
        router.add("POST", "/Users", self.create_user)
        router.add("GET", "/Users", self.list_users)
        router.add("GET", "/Users/<id>", self.get_user)
        router.add("PATCH", "/Users/<id>", self.patch_user)
        router.add("DELETE", "/Users/<id>", self.delete_user)
        router.add("GET", "/Groups", self.list_groups)
        router.add("POST", "/Groups/<id>/members", self.add_member)
        router.add("DELETE", "/Groups/<id>/members/<user_id>", self.remove_member)

    def _require(self, request: Request, *any_of: str) -> None:
        claims = self.tokens.verify_access(request.bearer())
        if not scopes(claims) & set(any_of):
            raise errors.insufficient_scope(" or ".join(any_of))

    def _user_json(self, user: User) -> dict[str, Any]:
        return {"id": user.id, "userName": user.user_name, "emails": [{"value": user.email, "primary": True}],
                "active": user.active, "verified": True, "origin": "uaa", "zoneId": "uaa",
                "groups": [{"display": g, "type": "DIRECT"} for g in self.store.groups_of(user.id)],
                "meta": {"version": 0, "created": user.created, "lastModified": user.last_modified},
                "schemas": [SCHEMA_USER]}

    def _user(self, user_id: str) -> User:
        user = self.store.user_by_id(user_id)
        if user is None:
            raise errors.not_found(f"User {user_id} does not exist")
        return user

    def create_user(self, request: Request) -> Response:
        self._require(request, "scim.write")
        body = request.json()
        name, password = body.get("userName"), body.get("password")
        if not isinstance(name, str) or not USER_NAME.match(name):
            raise errors.OAuthError(400, "invalid_scim_resource",
                                    "userName: required, 1-255 of letters, digits and ._@+-")
        if not isinstance(password, str) or not password:
            raise errors.OAuthError(400, "invalid_password", "password: required, a non-empty string")
        emails = body.get("emails") or [{"value": name}]
        email = emails[0].get("value") if isinstance(emails, list) and emails and isinstance(emails[0], dict) else None
        if not isinstance(email, str):
            raise errors.OAuthError(400, "invalid_scim_resource", "emails/0/value: expected a string")
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise errors.OAuthError(400, "invalid_scim_resource", "active: expected true or false")
        try:
            user = self.store.create_user(name, email, passwords.hash_password(password), active)
        except Conflict:
            raise errors.OAuthError(409, "scim_resource_already_exists",
                                    f"Username already in use: {name}") from None
        for group in self.default_groups:
            self.store.add_member(self.store.ensure_group(group).id, user.id)
        return Response(201, self._user_json(user))

    def list_users(self, request: Request) -> Response:
        self._require(request, "scim.read", "scim.write")
        attribute, value = _filter(request.q("filter"), "userName")
        if attribute is None or value is None:
            raise errors.OAuthError(400, "invalid_filter", "A filter userName eq \"NAME\" is required")
        user = self.store.user_by_name(value)
        found = [self._user_json(user)] if user else []
        return Response(200, {"resources": found, "startIndex": 1, "itemsPerPage": 100,
                              "totalResults": len(found), "schemas": [SCHEMA_USER]})

    def get_user(self, request: Request) -> Response:
        self._require(request, "scim.read", "scim.write")
        return Response(200, self._user_json(self._user(request.params["id"])))

    def patch_user(self, request: Request) -> Response:
        """``{"active": false}`` deactivates (the user's tokens stop working); ``password``
        sets a new one."""
        self._require(request, "scim.write")
        user = self._user(request.params["id"])
        body = request.json()
        unknown = set(body) - {"active", "password", "schemas", "id", "userName", "meta"}
        if unknown:
            raise errors.OAuthError(400, "invalid_scim_resource",
                                    f"cannot change {', '.join(sorted(unknown))} (only active, password)")
        active, password = body.get("active"), body.get("password")
        if active is not None and not isinstance(active, bool):
            raise errors.OAuthError(400, "invalid_scim_resource", "active: expected true or false")
        if password is not None and (not isinstance(password, str) or not password):
            raise errors.OAuthError(400, "invalid_password", "password: expected a non-empty string")
        self.store.update_user(user.id, active=active,
                               password_hash=passwords.hash_password(password) if password else None)
        return Response(200, self._user_json(self._user(user.id)))

    def delete_user(self, request: Request) -> Response:
        self._require(request, "scim.write")
        user = self._user(request.params["id"])
        body = self._user_json(user)
        self.store.delete_user(user.id)
        return Response(200, body)

    def _group(self, group_id: str) -> Group:
        group = self.store.group_by_id(group_id)
        if group is None:
            raise errors.not_found(f"Group {group_id} does not exist")
        return group

    def _group_json(self, group: Group) -> dict[str, Any]:
        return {"id": group.id, "displayName": group.display_name, "zoneId": "uaa",
                "members": [{"value": m, "type": "USER", "origin": "uaa"}
                            for m in self.store.members_of(group.id)],
                "schemas": [SCHEMA_USER]}

    def list_groups(self, request: Request) -> Response:
        self._require(request, "scim.read", "scim.write")
        attribute, value = _filter(request.q("filter"), "displayName")
        if attribute is None or value is None:
            raise errors.OAuthError(400, "invalid_filter", "A filter displayName eq \"NAME\" is required")
        group = self.store.group_by_name(value)
        found = [self._group_json(group)] if group else []
        return Response(200, {"resources": found, "startIndex": 1, "itemsPerPage": 100,
                              "totalResults": len(found), "schemas": [SCHEMA_USER]})

    def add_member(self, request: Request) -> Response:
        self._require(request, "scim.write")
        group = self._group(request.params["id"])
        body = request.json()
        if body.get("type", "USER") != "USER" or not isinstance(body.get("value"), str):
            raise errors.OAuthError(400, "invalid_scim_resource",
                                    'expected {"type": "USER", "value": "<user id>"}')
        user = self._user(body["value"])
        self.store.add_member(group.id, user.id)
        return Response(201, {"value": user.id, "type": "USER", "origin": "uaa"})

    def remove_member(self, request: Request) -> Response:
        self._require(request, "scim.write")
        group = self._group(request.params["id"])
        if not self.store.remove_member(group.id, request.params["user_id"]):
            raise errors.not_found(f"User {request.params['user_id']} is not a member of {group.display_name}")
        return Response(200, {"value": request.params["user_id"], "type": "USER", "origin": "uaa"})


def _filter(text: str | None, attribute: str) -> tuple[str | None, str | None]:
    """``(attribute, value)`` of ``<attribute> eq "value"``; ``(None, None)`` without a filter."""
    if text is None:
        return None, None
    found = FILTER.match(text)
    if not found or found.group(1).lower() != attribute.lower():
        raise errors.OAuthError(400, "invalid_filter",
                                f'Unsupported filter {text!r}: only {attribute} eq "VALUE"')
    return attribute, found.group(2)
