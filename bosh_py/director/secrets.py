"""The director's own credentials: API admin, agents' blobstore user, NATS director user.

Generated on first start into a 0600 file in the data dir and never printed; the CLI reads
the admin password from the user's config, which `bosh-py director start` writes (0600).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DirectorSecrets:
    director_uuid: str
    admin_password: str
    blobstore_password: str
    nats_password: str


def new_password() -> str:
    return secrets.token_urlsafe(24)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def load_or_create_secrets(path: Path) -> DirectorSecrets:
    if path.exists():
        return DirectorSecrets(**json.loads(path.read_text()))
    created = DirectorSecrets(uuid.uuid4().hex, new_password(), new_password(), new_password())
    write_private(path, json.dumps(asdict(created)))
    return created
