"""Who may call the API: bearer tokens for users, basic auth for DEAs and the HM.

Two kinds of bearer token, one per deployment (:func:`authenticator_for`):

- with a UAA configured (``uaa.url``), the UAA's RS256 JWTs, checked against the UAA's
  public keys (``/token_keys``, refetched on an unknown ``kid``): no secret is shared with
  the UAA, and the CC issues no token itself;
- without one, the CC's own built-in issuer (:class:`TokenIssuer`): JWTs signed with
  HMAC-SHA256 under ``cc.token_secret`` for the one admin user of the properties.

No token store either way: expiry (``exp``) is the only revocation, like UAA's tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """The token is malformed, badly signed or expired (str: why, for the 401 body)."""


ADMIN_SCOPE = "cloud_controller.admin"
READ_SCOPE = "cloud_controller.read"
WRITE_SCOPE = "cloud_controller.write"
AUDIENCE = "cloud_controller"


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for. ``user_id`` is the UAA user's guid (the key of the CC's
    roles); a client_credentials token has the client's id there and no ``user_name``."""
    user_name: str
    scopes: tuple[str, ...]
    user_id: str = ""

    @property
    def admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes


class Authenticator(Protocol):
    def verify(self, token: str, now: float | None = None) -> Identity: ...


@dataclass(frozen=True)
class TokenIssuer:
    secret: str
    ttl: int = 86400

    def issue(self, user_name: str, now: float | None = None) -> dict:
        """The body of a successful ``POST /oauth/token`` (password grant)."""
        now = int(now if now is not None else time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"user_name": user_name, "user_id": user_name, "scope": ["cloud_controller.admin",
                  "cloud_controller.read", "cloud_controller.write"], "iat": now, "exp": now + self.ttl,
                  "jti": secrets.token_hex(8), "iss": "cf-py-cloud-controller"}
        signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64(json.dumps(claims, separators=(",", ":")).encode())
        token = signing_input + "." + _b64(self._sign(signing_input))
        return {"access_token": token, "token_type": "bearer", "expires_in": self.ttl,
                "scope": " ".join(claims["scope"]), "jti": claims["jti"]}

    def verify(self, token: str, now: float | None = None) -> Identity:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("Invalid Auth Token")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, binascii.Error):
            raise TokenError("Invalid Auth Token") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
            raise TokenError("Invalid Auth Token")
        if not hmac.compare_digest(signature, self._sign(parts[0] + "." + parts[1])):
            raise TokenError("Invalid Auth Token")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < (now if now is not None else time.time()):
            raise TokenError("Invalid Auth Token: the token has expired")
        user = str(claims.get("user_name", ""))
        return Identity(user, tuple(claims.get("scope") or ()), user)

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self.secret.encode(), signing_input.encode(), hashlib.sha256).digest()


class UaaAuthenticator:
    """Trusts the UAA's tokens: RS256 under a key from the UAA's ``/token_keys``, unexpired,
    from that UAA's issuer (``uaa.resource_server``), and meant for the cloud controller
    (``aud`` names ``cloud_controller``, as UAA puts it for a ``cloud_controller.*`` scope)."""

    def __init__(self, url: str, timeout: float = 5.0, refetch_interval: float = 30.0) -> None:
        # imported here: only a CC with a UAA needs cryptography (releases/uaa's package)
        from cf_platform.uaa.jwt_tokens import TokenInvalid
        from cf_platform.uaa.resource_server import UaaTokenVerifier
        self.url = url.rstrip("/")
        self._invalid = TokenInvalid
        self.verifier = UaaTokenVerifier(self.url, timeout, refetch_interval)

    def verify(self, token: str, now: float | None = None) -> Identity:
        try:
            claims = self.verifier.verify(token, now)
        except self._invalid as e:
            raise TokenError(f"Invalid Auth Token: {e}") from None
        audience = claims.get("aud")
        audience = [audience] if isinstance(audience, str) else audience
        if not isinstance(audience, list) or AUDIENCE not in audience:
            raise TokenError("Invalid Auth Token: the token is not meant for the cloud controller (aud)")
        scopes = tuple(s for s in claims.get("scope") or () if isinstance(s, str))
        user_id = claims.get("user_id") or claims.get("client_id") or claims.get("sub")
        return Identity(str(claims.get("user_name") or ""), scopes, str(user_id or ""))


@dataclass(frozen=True)
class UaaSettings:
    url: str
    timeout: float = 5.0
    refetch_interval: float = 30.0


def parse_uaa_settings(raw: Any) -> UaaSettings | None:
    """The config file's ``uaa`` object (None: no UAA, the built-in issuer); errors name the key."""
    from .config import ConfigError
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("config: 'uaa' must be an object with a 'url'")
    unknown = set(raw) - {"url", "timeout", "refetch_interval"}
    if unknown:
        raise ConfigError(f"config: 'uaa.{min(unknown)}' is not a known key (url, timeout, refetch_interval)")
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) < 10:
        raise ConfigError("config: 'uaa.url' must be the UAA's http:// or https:// URL")
    numbers = {}
    for key in ("timeout", "refetch_interval"):
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"config: 'uaa.{key}' must be a positive number of seconds")
        numbers[key] = float(value)
    return UaaSettings(url.rstrip("/"), **numbers)


def authenticator_for(config: Any) -> TokenIssuer | UaaAuthenticator:
    """The UAA's keys when the config names a UAA; else the built-in HMAC issuer."""
    uaa = parse_uaa_settings(config.extra.get("uaa"))
    if uaa is None:
        return TokenIssuer(config.token_secret, config.token_ttl)
    return UaaAuthenticator(uaa.url, uaa.timeout, uaa.refetch_interval)


def check_password(users: dict[str, str], user: str, password: str) -> bool:
    """Constant-time comparison against the configured users (no timing oracle on names)."""
    expected = users.get(user)
    ok = hmac.compare_digest((expected or secrets.token_hex(16)).encode(), password.encode())
    return expected is not None and ok


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def internal_allowed(authorization: str | None, user: str, password: str) -> bool:
    creds = basic_credentials(authorization)
    if creds is None:
        return False
    return hmac.compare_digest(creds[0].encode(), user.encode()) & \
        hmac.compare_digest(creds[1].encode(), password.encode())
