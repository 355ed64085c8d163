"""Who may call the API: UAA-shaped bearer tokens for users, basic auth for DEAs and the HM.

Tokens are JWTs signed with HMAC-SHA256 under the deployment's ``cc.token_secret``, so any
CC instance with the same secret accepts them and a restart does not log users out. No
token store: expiry (``exp``) is the only revocation, like UAA's self-contained tokens.
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """The token is malformed, badly signed or expired (str: why, for the 401 body)."""


@dataclass(frozen=True)
class Identity:
    user_name: str
    scopes: tuple[str, ...]


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
        return Identity(str(claims.get("user_name", "")), tuple(claims.get("scope") or ()))

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self.secret.encode(), signing_input.encode(), hashlib.sha256).digest()


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
