"""Wiring and process life: config -> store (bootstrap users) -> HTTP server -> status port and
NATS announcement (best effort); SIGTERM stops it."""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

from ..component import Component, ComponentThread
from . import passwords
from .config import ConfigError, UaaConfig, load_config
from .jwt_tokens import SigningKey
from .oauth_api import OAuthApi
from .scim_api import ScimApi
from .store import Store
from .tokens import TokenService
from .varz import GrantCounts, uaa_counters
from .web import Router, make_server

log = logging.getLogger("uaa")


def bootstrap_users(store: Store, config: UaaConfig) -> None:
    """The configured users exist with the configured password and at least their groups.

    The manifest is the truth for these users (as UAA's ``scim.users`` with override): a
    rotated ``cf_admin_password`` takes effect at the next start. Users made through SCIM
    are left alone."""
    for u in config.users:
        user = store.user_by_name(u.name)
        if user is None:
            user = store.create_user(u.name, u.name, passwords.hash_password(u.password))
        elif not passwords.verify(u.password, user.password_hash) or not user.active:
            store.update_user(user.id, password_hash=passwords.hash_password(u.password), active=True)
        for group in u.groups:
            store.add_member(store.ensure_group(group).id, user.id)
    for group in config.default_groups:
        store.ensure_group(group)


def drop_privileges(user: str, data_dir: Path) -> None:
    """Become ``user`` (all groups dropped) once root's part is done: the config file (under
    root-only /var/vcap/jobs) is read and the key parsed. The data directory is made over to
    the user first, so the database stays writable. The port is above 1024: no capability is
    kept."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ValueError(f"--user {user}: no such user on this machine") from None
    if os.geteuid() != 0:
        if os.geteuid() != entry.pw_uid:
            raise ValueError(f"--user {user}: only root can become another user")
        return
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (data_dir, *data_dir.iterdir()):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


class Uaa:
    """One running UAA: :meth:`start`, then :meth:`stop`."""

    def __init__(self, config: UaaConfig, run_as: str | None = None) -> None:
        self.config = config
        self.run_as = run_as
        self.store: Store | None = None
        self.httpd = None
        self._thread: threading.Thread | None = None
        self.grants = GrantCounts()
        self.status: ComponentThread | None = None

    def start(self) -> None:
        c = self.config
        key = SigningKey.from_pem(c.signing_key_id, c.signing_key_pem)
        if self.run_as:
            drop_privileges(self.run_as, c.data_dir)
        c.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(c.db_path)
        bootstrap_users(self.store, c)
        tokens = TokenService.with_clients(self.store, key, c.issuer, c.access_token_validity,
                                           c.refresh_token_validity, c.clients)
        router = Router()
        OAuthApi(tokens, self.grants).register(router)
        ScimApi(tokens, c.default_groups).register(router)
        self.httpd = make_server(c.bind, c.port, router, c.http_io_timeout)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="uaa-http", daemon=True)
        self._thread.start()
        log.info("uaa listening on %s:%d (issuer %s, %d clients, key %s)", c.bind,
                 self.httpd.server_address[1], c.issuer, len(c.clients), key.kid)
        if c.status is not None:   # CF v1's status port; NATS only announces it (never waited for)
            self.status = ComponentThread(Component("UAA", c.index, c.host, c.status), self.varz,
                                          self.unhealthy, realm="uaa", nats=c.nats, client_name="uaa")
            self.status.start()

    def varz(self) -> dict[str, Any]:
        """The UAA's own /varz figures (on the status thread: one short query)."""
        assert self.store is not None
        return uaa_counters(self.grants, self.store.user_count(), len(self.config.clients))

    def unhealthy(self) -> str | None:
        """Why /healthz answers 503: the token endpoint cannot answer. NATS is not asked: the
        UAA issues tokens without it (its state is in /varz)."""
        if self._thread is None or not self._thread.is_alive():
            return "the HTTP server is not running"
        try:
            assert self.store is not None
            self.store.user_count()
        except sqlite3.Error as e:
            return f"the user store does not answer: {e}"
        return None

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.store is not None:
            self.store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="uaa", description=__doc__)
    parser.add_argument("--config", required=True, help="JSON config file (rendered by the job)")
    parser.add_argument("--user", help="run as this user once the config and key are read (root only)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"uaa: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uaa = Uaa(config, args.user)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        uaa.start()
    except (OSError, ValueError) as e:  # the port taken, a bad key: one line; the agent restarts us
        log.error("cannot start: %s", e)
        uaa.stop()
        return 1
    done.wait()
    log.info("stopping")
    uaa.stop()
    return 0
