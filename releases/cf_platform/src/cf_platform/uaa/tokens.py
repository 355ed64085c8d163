"""The token endpoint's rules: who may get which token, and which tokens are still good.

Access tokens are self-contained RS256 JWTs (resource servers verify them with /token_keys).
Refresh tokens are JWTs too (``jti`` ending in ``-r``, as UAA's), bound to the client they
were issued to; a refresh, ``/check_token`` and ``/userinfo`` also look the user up, so a
deleted or deactivated user's tokens stop working there at once. Scopes of a user token are
the user's groups that the client may ask for (narrowed by a requested ``scope``); a
client_credentials token carries the client's authorities.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from . import errors, passwords
from .config import ClientConfig
from .jwt_tokens import SigningKey, TokenInvalid
from .store import Store, User

REFRESH_SUFFIX = "-r"


@dataclass
class Client:
    config: ClientConfig
    secret_hash: str

    @property
    def id(self) -> str:
        return self.config.client_id


@dataclass
class TokenService:
    store: Store
    key: SigningKey
    issuer: str
    access_validity: int
    refresh_validity: int
    clients: dict[str, Client] = field(default_factory=dict)

    @classmethod
    def with_clients(cls, store: Store, key: SigningKey, issuer: str, access_validity: int,
                     refresh_validity: int, clients: tuple[ClientConfig, ...]) -> TokenService:
        """Only the secrets' hashes are kept in memory once the config is read."""
        service = cls(store, key, issuer, access_validity, refresh_validity)
        for c in clients:
            service.clients[c.client_id] = Client(c, passwords.hash_password(c.secret))
        return service

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    # clients
    def authenticate_client(self, client_id: str, secret: str) -> Client:
        client = self.clients.get(client_id)
        ok = passwords.verify(secret, client.secret_hash if client else None)
        if client is None or not ok:
            raise errors.bad_client()
        return client

    # grants
    def grant(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise errors.invalid_request("Missing grant_type")
        if grant_type not in client.config.grant_types:
            raise errors.OAuthError(400, "unauthorized_client",
                                    f"Unauthorized grant type: {grant_type}")
        requested = form.get("scope", "").split() or None
        if grant_type == "password":
            user = self._login(form.get("username", ""), form.get("password", ""))
            return self._user_tokens(client, user, requested, "password")
        if grant_type == "refresh_token":
            return self._refresh(client, form.get("refresh_token", ""), requested)
        if grant_type == "client_credentials":
            return self._client_token(client, requested)
        raise errors.OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")

    def _login(self, user_name: str, password: str) -> User:
        user = self.store.user_by_name(user_name) if user_name else None
        ok = passwords.verify(password, user.password_hash if user else None)
        if user is None or not ok or not user.active:
            raise errors.bad_user()
        return user

    def _narrow(self, allowed: list[str], requested: list[str] | None) -> list[str]:
        if requested is None:
            return allowed
        missing = [s for s in requested if s not in allowed]
        if missing:
            raise errors.OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(missing)}")
        return [s for s in allowed if s in requested]

    def _user_tokens(self, client: Client, user: User, requested: list[str] | None,
                     grant_type: str) -> dict[str, Any]:
        groups = self.store.groups_of(user.id)
        allowed = [s for s in client.config.scope if s in groups]
        scope = self._narrow(allowed, requested)
        now = int(time.time())
        jti = secrets.token_hex(16)
        claims = {"jti": jti, "sub": user.id, "scope": scope, "client_id": client.id, "cid": client.id,
                  "azp": client.id, "grant_type": grant_type, "user_id": user.id, "origin": "uaa",
                  "user_name": user.user_name, "email": user.email, "iat": now,
                  "exp": now + self.access_validity, "iss": self.token_endpoint, "zid": "uaa",
                  "aud": _audience(client.id, scope)}
        body: dict[str, Any] = {"access_token": self.key.encode(claims), "token_type": "bearer",
                                "expires_in": self.access_validity, "scope": " ".join(scope), "jti": jti}
        if "refresh_token" in client.config.grant_types:
            refresh = {"jti": jti + REFRESH_SUFFIX, "sub": user.id, "scope": scope, "client_id": client.id,
                       "cid": client.id, "user_id": user.id, "user_name": user.user_name,
                       "grant_type": grant_type, "iat": now, "exp": now + self.refresh_validity,
                       "iss": self.token_endpoint, "zid": "uaa", "aud": _audience(client.id, scope)}
            body["refresh_token"] = self.key.encode(refresh)
        return body

    def _refresh(self, client: Client, token: str, requested: list[str] | None) -> dict[str, Any]:
        try:
            claims = self.key.decode(token)
        except TokenInvalid as e:
            raise errors.OAuthError(401, "invalid_token", f"Invalid refresh token: {e}") from None
        if not str(claims.get("jti", "")).endswith(REFRESH_SUFFIX) or claims.get("iss") != self.token_endpoint:
            raise errors.OAuthError(401, "invalid_token", "Invalid refresh token: not a refresh token")
        if claims.get("client_id") != client.id:
            raise errors.OAuthError(401, "invalid_token", "Invalid refresh token: issued to another client")
        user = self.store.user_by_id(str(claims.get("user_id", "")))
        if user is None or not user.active:
            raise errors.OAuthError(401, "invalid_token", "Invalid refresh token: the user is no longer active")
        original = [s for s in claims.get("scope", []) if isinstance(s, str)]
        body = self._user_tokens(client, user, requested if requested is not None else original,
                                 str(claims.get("grant_type", "password")))
        body["refresh_token"] = token
        return body

    def _client_token(self, client: Client, requested: list[str] | None) -> dict[str, Any]:
        scope = self._narrow(list(client.config.authorities), requested)
        now = int(time.time())
        jti = secrets.token_hex(16)
        claims = {"jti": jti, "sub": client.id, "authorities": scope, "scope": scope,
                  "client_id": client.id, "cid": client.id, "azp": client.id,
                  "grant_type": "client_credentials", "iat": now, "exp": now + self.access_validity,
                  "iss": self.token_endpoint, "zid": "uaa", "aud": _audience(client.id, scope)}
        return {"access_token": self.key.encode(claims), "token_type": "bearer",
                "expires_in": self.access_validity, "scope": " ".join(scope), "jti": jti}

    # resource side
    def verify_access(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token whose user (if any) still exists and is active."""
        try:
            claims = self.key.decode(token)
        except TokenInvalid as e:
            raise errors.invalid_token(str(e)) from None
        if str(claims.get("jti", "")).endswith(REFRESH_SUFFIX):
            raise errors.invalid_token("A refresh token is not an access token")
        if claims.get("iss") != self.token_endpoint:
            raise errors.invalid_token("The token was issued by another UAA")
        if "user_id" in claims:
            user = self.store.user_by_id(str(claims["user_id"]))
            if user is None or not user.active:
                raise errors.invalid_token("The token's user is no longer active")
        return claims


def _audience(client_id: str, scope: list[str]) -> list[str]:
    """UAA's ``aud``: the client and the resource prefix of each scope."""
    aud = [client_id]
    for s in scope:
        prefix = s.rsplit(".", 1)[0] if "." in s else s
        if prefix not in aud:
            aud.append(prefix)
    return aud


def scopes(claims: dict[str, Any]) -> set[str]:
    return {s for s in claims.get("scope", []) if isinstance(s, str)}
