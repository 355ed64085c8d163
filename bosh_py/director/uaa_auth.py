"""The director's API accepts UAA tokens beside its basic auth, as BOSH's director does.

A UAA client with the ``bosh.admin`` authority (``client_credentials`` grant) gets a JWT
from the UAA and shows it as ``Authorization: Bearer``. The director checks it with the
UAA's public keys only (``GET /token_keys``: no secret is shared with the UAA): RS256 with a
known ``kid`` (keys cached, fetched again when a token names an unknown kid, at most once per
``refetch_interval`` so made-up kids cannot make the director hammer the UAA), the
signature, ``exp``, ``iss`` (this UAA) and ``aud`` (``bosh``). Scopes decide what it may do,
with BOSH's meaning: ``bosh.admin`` (or ``bosh.<director uuid>.admin``) everything,
``bosh.read`` (or ``bosh.<uuid>.read``) GETs only, and not those that hand out a credential
(``get-variable``) or a download (logs, errand logs, release exports).

The director does not import the cf_platform release's UAA verifier (a release's package is
not bosh-py's code): this one is small, async (it runs on the API's event loop) and uses
``cryptography``, already a dependency. A token never reaches a log: refusals name the
reason, not the token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bosh_py.director.auth import check_basic_auth, unauthorized

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
READ_METHODS = frozenset({"GET", "HEAD"})
# GETs that hand out secrets or one-time downloads an admin asked for: admin only, as
# bosh.read in BOSH reads the director's state, not credentials (CredHub's) or logs
ADMIN_ONLY_READS = re.compile(r"/deployments/[^/]+/variables/.+|/(resources|errand_logs|releases/exports)/.*")


class UaaConfig(BaseModel):
    """``uaa`` in director.json (or ``director start --uaa-url``). The keys that verify every
    token come from this URL, so it must be https (``ca_cert``: the CA file that signed the
    UAA's certificate, else the system's) or plain http on loopback only (tests)."""

    model_config = ConfigDict(extra="forbid")
    url: str
    ca_cert: str | None = None
    audience: str = "bosh"
    refetch_interval: float = Field(default=30.0, ge=0)
    timeout: float = Field(default=5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _safe_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url.rstrip("/")
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            return url.rstrip("/")
        raise ValueError(f"uaa url '{url}': must be https:// (or http:// on 127.0.0.1 only): the token "
                         f"keys fetched from it decide who may use the director")


class TokenRefused(Exception):
    """Why a bearer token is refused; the message is safe to show (it never holds the token)."""


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split_jwt(token: str) -> tuple[dict, dict, bytes, bytes]:
    """(header, claims, signature, signed bytes) of a compact JWS; TokenRefused if malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("The token is not a JWT")
    try:
        header, claims = json.loads(_unb64url(parts[0])), json.loads(_unb64url(parts[1]))
        signature = _unb64url(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise TokenRefused("The token is not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRefused("The token is not a JWT")
    return header, claims, signature, f"{parts[0]}.{parts[1]}".encode()


def public_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    def number(name: str) -> int:
        return int.from_bytes(_unb64url(str(jwk[name])), "big")
    return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()


def check_claims(claims: dict[str, Any], issuer: str, audience: str, now: float) -> None:
    """Expiry, issuer and audience of an already signature-checked token."""
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp <= now:
        raise TokenRefused("The token has expired")
    if claims.get("iss") != issuer:
        raise TokenRefused("The token was issued by another UAA")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise TokenRefused(f"The token is not meant for the director (audience '{audience}' missing)")
    if str(claims.get("jti", "")).endswith("-r"):
        raise TokenRefused("A refresh token is not an access token")


def access_level(scopes: list[str], director_uuid: str) -> str | None:
    """'admin', 'read' or None from a token's scopes, with BOSH's scope names."""
    granted = set(scopes)
    if granted & {"bosh.admin", f"bosh.{director_uuid}.admin"}:
        return "admin"
    if granted & {"bosh.read", f"bosh.{director_uuid}.read"}:
        return "read"
    return None


@dataclass(frozen=True)
class Caller:
    """Who a checked token says is calling, for events and the access check."""

    name: str
    level: str  # "admin" or "read"


class UaaTokenVerifier:
    """Checks bearer tokens against the UAA's keys, fetched lazily and cached by kid."""

    def __init__(self, config: UaaConfig) -> None:
        self.config = config
        self.issuer = f"{config.url}/oauth/token"
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def _tls(self) -> ssl.SSLContext | bool:
        if self.config.ca_cert:
            return ssl.create_default_context(cafile=self.config.ca_cert)
        return True

    async def _refresh_keys(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.config.refetch_interval:
                return
            self._fetched_at = time.monotonic()  # a failed fetch counts too: no hammering a down UAA
            try:
                async with httpx.AsyncClient(verify=self._tls(), timeout=self.config.timeout) as http:
                    response = await http.get(f"{self.config.url}/token_keys")
                    response.raise_for_status()
                    keys = response.json()["keys"]
                self._keys = {k["kid"]: public_key_from_jwk(k) for k in keys
                              if k.get("kty") == "RSA" and k.get("alg", "RS256") == "RS256" and "kid" in k}
            except (httpx.HTTPError, ValueError, KeyError, TypeError, ssl.SSLError) as error:
                log.warning("cannot fetch the UAA's token keys from %s: %s", self.config.url, error)
                raise TokenRefused(f"The director cannot fetch the UAA's token keys from {self.config.url}") from None
            log.info("fetched %d token key(s) from %s", len(self._keys), self.config.url)

    async def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid access token of this UAA for the director; TokenRefused otherwise."""
        header, claims, signature, signed = split_jwt(token)
        if header.get("alg") != "RS256":  # none, HS256 with the public key as secret, ...: refused unread
            raise TokenRefused("The token's algorithm is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            await self._refresh_keys()
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRefused("The token was signed with an unknown key")
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenRefused("The token's signature is invalid") from None
        check_claims(claims, self.issuer, self.config.audience, time.time() if now is None else now)
        return claims


def _refusal(status: int, description: str, bearer_error: str) -> web.HTTPException:
    body = json.dumps({"code": status, "description": description}) + "\n"
    headers = {"WWW-Authenticate": f'Bearer realm="bosh-py", error="{bearer_error}"'}
    if status == 401:
        return web.HTTPUnauthorized(text=body, content_type="application/json", headers=headers)
    return web.HTTPForbidden(text=body, content_type="application/json", headers=headers)


async def caller_of(verifier: UaaTokenVerifier, token: str, director_uuid: str) -> Caller:
    """The caller a bearer token names, or an HTTP 401/403 saying why not."""
    try:
        claims = await verifier.verify(token)
    except TokenRefused as refusal:
        log.info("refused a bearer token: %s", refusal)
        raise _refusal(401, f"Not authorized: {refusal}", "invalid_token") from None
    scopes = [s for s in claims.get("scope", []) if isinstance(s, str)]
    level = access_level(scopes, director_uuid)
    name = str(claims.get("user_name") or claims.get("client_id") or claims.get("sub") or "unknown")
    if level is None:
        raise _refusal(403, f"Forbidden: '{name}' has neither bosh.admin nor bosh.read", "insufficient_scope")
    return Caller(name, level)


def operator_auth_middleware(user: str, password: str, verifier: UaaTokenVerifier | None, director_uuid: str,
                             open_paths: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    """Basic auth (the admin user), or a UAA bearer token when the director has a UAA; the
    caller's name lands in ``request["api_user"]`` for events."""
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and verifier is not None:
            caller = await caller_of(verifier, header[7:].strip(), director_uuid)
            if caller.level != "admin" and (request.method not in READ_METHODS
                                            or ADMIN_ONLY_READS.fullmatch(request.path)):
                raise _refusal(403, f"Forbidden: '{caller.name}' has bosh.read only (reads, no changes, "
                                    f"no credentials or downloads)", "insufficient_scope")
            request["api_user"] = caller.name
            return await handler(request)
        if not check_basic_auth(header or None, user, password):
            raise unauthorized()
        request["api_user"] = user
        return await handler(request)

    return middleware


def info_section(config: UaaConfig | None) -> dict[str, Any]:
    """``user_authentication`` of GET /info, as BOSH's director answers it: where the CLI
    gets tokens."""
    if config is None:
        return {"type": "basic", "options": {}}
    return {"type": "uaa", "options": {"url": config.url}}


def uaa_settings(current: Any, url: str | None, ca_cert: str | None) -> UaaConfig:
    """``director start --uaa-url/--uaa-ca-cert`` over what director.json (``current``, a
    DirectorConfig) already says; a bad URL is a BoshPyError naming the flag."""
    from pydantic import ValidationError

    from bosh_py.errors import BoshPyError

    base = current.uaa.model_dump() if current.uaa is not None else {}
    if url is None and not base:
        raise BoshPyError("--uaa-ca-cert needs --uaa-url (or uaa.url in director.json)")
    merged = {**base, **({"url": url} if url else {}), **({"ca_cert": str(Path(ca_cert).resolve())} if ca_cert else {})}
    try:
        return UaaConfig.model_validate(merged)
    except ValidationError as error:
        raise BoshPyError(f"--uaa-url: {error.errors()[0]['msg'].removeprefix('Value error, ')}") from None
