"""The UAA from cf-py's side, as the cf CLI uses it: the public ``cf`` client's password and
refresh_token grants, and SCIM's ``POST /Users`` for ``create-user``. Errors become
:class:`CfError` with the UAA's description; no password or token is ever in a message."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from .errors import CfError

CLIENT_ID = "cf"          # Cloud Foundry's public CLI client: empty secret
EXPIRY_MARGIN = 30        # refresh this many seconds before the access token expires


def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:".encode()).decode()}


def _call(method: str, url: str, what: str, **kwargs: Any) -> dict:
    try:
        response = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError as e:
        raise CfError(f"Cannot reach the UAA at {url}: {type(e).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code not in (200, 201):
        description = body.get("error_description") or body.get("message") or response.reason_phrase \
            if isinstance(body, dict) else response.reason_phrase
        raise CfError(f"{what}: {description} [HTTP {response.status_code}]")
    if not isinstance(body, dict):
        raise CfError(f"{what}: the UAA answered something that is not a JSON object")
    return body


def password_grant(uaa: str, username: str, password: str) -> dict:
    return _call("POST", f"{uaa}/oauth/token", "Login failed", headers=_basic(),
                 data={"grant_type": "password", "username": username, "password": password})


def refresh_grant(uaa: str, refresh_token: str) -> dict:
    return _call("POST", f"{uaa}/oauth/token", "The session expired and could not be renewed (run `cf-py login`)",
                 headers=_basic(), data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def create_user(uaa: str, token: str, username: str, password: str) -> dict:
    return _call("POST", f"{uaa}/Users", f"Creating user {username} failed",
                 headers={"Authorization": f"bearer {token}"},
                 json={"userName": username, "password": password, "emails": [{"value": username}]})


def expires_soon(token: str, now: float | None = None) -> bool:
    """Whether a JWT's ``exp`` is within EXPIRY_MARGIN (unverified: only to decide when to
    refresh; the cloud controller checks the signature). Unreadable counts as not expiring."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return False
    return exp - EXPIRY_MARGIN <= (time.time() if now is None else now)
