"""How the CLI authenticates to the director: basic auth, or a UAA token as BOSH's CLI does.

Order, as in BOSH's CLI: ``BOSH_CLIENT`` and ``BOSH_CLIENT_SECRET`` in the environment get a
fresh ``client_credentials`` token for this command (nothing stored); else the token
``bosh-py login`` saved in the CLI config (the token only, never the client secret) until it
expires; else the admin user and password ``director start`` saved. The UAA's URL comes from
the director's unauthenticated ``GET /info`` (``user_authentication``), as BOSH's does.
Tokens and secrets never appear in an error message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from bosh_py.cli.config import CliConfig
from bosh_py.errors import BoshPyError

EXPIRY_MARGIN = 30.0  # seconds: a token this close to its end is fetched again (or refused)


@dataclass(frozen=True)
class UaaToken:
    access_token: str
    expires_at: float  # epoch seconds


def uaa_url_of(director_url: str, timeout: float = 10.0) -> str:
    """The UAA the director trusts, from its GET /info; BoshPyError if it trusts none."""
    try:
        info = httpx.get(f"{director_url.rstrip('/')}/info", timeout=timeout).json()
    except (httpx.HTTPError, ValueError) as error:
        raise BoshPyError(f"Cannot reach the director at {director_url}: {error}") from error
    auth = info.get("user_authentication") or {}
    url = (auth.get("options") or {}).get("url")
    if auth.get("type") != "uaa" or not isinstance(url, str):
        raise BoshPyError(f"The director at {director_url} does not accept UAA tokens "
                          f"(start it with `bosh-py director start --uaa-url URL`)")
    return url


def client_credentials_token(uaa_url: str, client: str, secret: str, ca_cert: str | None = None,
                             timeout: float = 10.0) -> UaaToken:
    """A token for ``client`` (grant ``client_credentials``)."""
    try:
        response = httpx.post(f"{uaa_url}/oauth/token", auth=(client, secret), timeout=timeout,
                              data={"grant_type": "client_credentials"}, verify=ca_cert or True)
    except httpx.HTTPError as error:
        raise BoshPyError(f"Cannot reach the UAA at {uaa_url}: {error}") from error
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise BoshPyError(f"The UAA at {uaa_url} refused client '{client}': {reason}")
    return UaaToken(body["access_token"], time.time() + float(body.get("expires_in", 0)))


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer`` with a token got (once, lazily) from ``get_token``."""

    def __init__(self, get_token: Callable[[], UaaToken]) -> None:
        self.get_token = get_token
        self.token: UaaToken | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token is None or self.token.expires_at - EXPIRY_MARGIN < time.time():
            self.token = self.get_token()
        request.headers["Authorization"] = f"Bearer {self.token.access_token}"
        yield request


def _saved_token(config: CliConfig) -> UaaToken:
    login = config.uaa_login or {}
    token = UaaToken(str(login.get("access_token", "")), float(login.get("expires_at", 0)))
    if token.expires_at - EXPIRY_MARGIN < time.time():
        raise BoshPyError(f"The UAA token of client '{login.get('client')}' has expired: "
                          f"run `bosh-py login --client ID` again (or set BOSH_CLIENT and BOSH_CLIENT_SECRET)")
    return token


def director_auth(config: CliConfig) -> httpx.Auth | tuple[str, str]:
    """What the director client sends: see the module docstring for the order."""
    client, secret = os.environ.get("BOSH_CLIENT"), os.environ.get("BOSH_CLIENT_SECRET")
    if client and secret:
        ca_cert = os.environ.get("BOSH_CA_CERT")
        return BearerAuth(lambda: client_credentials_token(uaa_url_of(config.url), client, secret, ca_cert))
    if client or secret:
        raise BoshPyError("Set both BOSH_CLIENT and BOSH_CLIENT_SECRET (or neither)")
    if config.uaa_login:
        return BearerAuth(lambda: _saved_token(config))
    return (config.user, config.password)
