"""`bosh-py login` / `logout`: authenticate to the director with a UAA client, as
`bosh log-in` does with BOSH_CLIENT / BOSH_CLIENT_SECRET.

login gets a ``client_credentials`` token from the UAA the director names in GET /info,
checks that the director accepts it, and saves the token (not the secret) in the CLI config
(0600); later commands send it until it expires. logout forgets it (back to the admin user
and password ``director start`` saved, if any).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import click
import httpx

from bosh_py.cli.config import CliConfig, config_path, load_cli_config, save_cli_config
from bosh_py.cli.output import console
from bosh_py.cli.uaa_session import client_credentials_token, uaa_url_of
from bosh_py.errors import BoshPyError


def _director_accepts(url: str, token: str) -> str:
    """The director's name once it accepted ``token`` (GET /deployments), else its reason."""
    try:
        response = httpx.get(f"{url}/deployments", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        name = httpx.get(f"{url}/info", timeout=10).json().get("name", "director")
    except (httpx.HTTPError, ValueError) as error:
        raise BoshPyError(f"Cannot reach the director at {url}: {error}") from error
    if response.status_code != 200:
        try:
            reason = response.json().get("description", response.text)
        except ValueError:
            reason = response.text.strip()
        raise BoshPyError(f"The director at {url} refused the token ({response.status_code}): {reason}")
    return str(name)


@click.command("login")
@click.option("--client", envvar="BOSH_CLIENT", required=True, help="UAA client id (or BOSH_CLIENT)")
@click.option("--client-secret", envvar="BOSH_CLIENT_SECRET", prompt=True, hide_input=True,
              help="UAA client secret (or BOSH_CLIENT_SECRET; asked for when neither is given)")
@click.option("-e", "--environment", envvar="BOSH_ENVIRONMENT", default=None,
              help="Director URL (default: the configured director)")
@click.option("--ca-cert", envvar="BOSH_CA_CERT", default=None, type=click.Path(exists=True, dir_okay=False),
              help="CA certificate of the UAA's https")
def login(client: str, client_secret: str, environment: str | None, ca_cert: str | None) -> None:
    """Log in to the director with a UAA client (bosh.admin: everything; bosh.read: reads)."""
    if environment:
        url = environment.rstrip("/")
        config = load_cli_config() if config_path().exists() else CliConfig(url=url, user="", password="")
        config = replace(config, url=url)
    else:
        config = load_cli_config()
    uaa_url = uaa_url_of(config.url)
    token = client_credentials_token(uaa_url, client, client_secret, ca_cert)
    name = _director_accepts(config.url, token.access_token)
    saved = save_cli_config(replace(config, uaa_login={
        "uaa_url": uaa_url, "client": client, "access_token": token.access_token, "expires_at": token.expires_at,
        "ca_cert": str(Path(ca_cert).resolve()) if ca_cert else None}))
    until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(token.expires_at))
    console.print(f"Logged in to '{name}' as client '{client}' (token valid until {until}; saved in {saved})")


@click.command("logout")
def logout() -> None:
    """Forget the UAA token `login` saved."""
    config = load_cli_config()
    if config.uaa_login is None:
        console.print("Not logged in with a UAA client")
        return
    save_cli_config(replace(config, uaa_login=None))
    console.print(f"Logged out client '{config.uaa_login.get('client')}'")


COMMANDS = [login, logout]
