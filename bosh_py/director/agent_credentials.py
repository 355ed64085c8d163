"""Each agent's own blobstore login, derived from a key only the director holds.

The password is HMAC-SHA256(key, agent id): nothing per agent to store, checked in constant
time, and one VM's settings.json reveals nothing about another's. The key is its own 0600
file in the data dir, made on first start; it is deliberately not the old shared
``blobstore_password``, which VMs bootstrapped by earlier versions still hold.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bosh_py.mbus.server import AGENT_ID_RE


@dataclass(frozen=True)
class AgentCredentials:
    key: str

    @classmethod
    def load_or_create(cls, path: Path) -> "AgentCredentials":
        """Read the key, or make it: written whole to a temporary file, then linked into
        place, so a concurrent caller never reads half a key and the first one wins."""
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = path.read_text().strip()
        if len(key) < 32:
            raise ValueError(f"{path}: the agents' blobstore key is too short; remove it to make a new one")
        return cls(key)

    def password(self, agent_id: str) -> str:
        return hmac.new(self.key.encode(), f"bosh-py blobstore agent {agent_id}".encode(),
                        hashlib.sha256).hexdigest()

    def settings(self, url: str, agent_id: str) -> dict[str, str]:
        """The ``blobstore`` section of an agent's settings.json."""
        return {"url": url, "user": agent_id, "password": self.password(agent_id)}

    def authenticate(self, user: str, password: str) -> str | None:
        """The agent id these credentials belong to, or None."""
        if not AGENT_ID_RE.match(user):
            return None
        return user if hmac.compare_digest(self.password(user).encode(), password.encode()) else None
