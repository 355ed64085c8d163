"""Support for the UAA's and the log server's component tests: a nats link to a test
nats-server (as the director builds it from the nats job), /varz read with basic auth, and
every answer to one vcap.component.discover."""

from __future__ import annotations

import json
from typing import Any

import yaml

from bosh_py.release import link_from_provider
from tests.cf.metrics.scrape_support import http_get
from tests.harness import REPO

NATS_SPEC = REPO / "releases" / "nats" / "jobs" / "nats" / "spec"


def nats_link(port: int, user: str | None, password: str | None) -> dict[str, Any]:
    """The nats job's link for one instance on 127.0.0.1:``port``."""
    nats = {"port": port, **({"user": user, "password": password} if user else {})}
    return link_from_provider(yaml.safe_load(NATS_SPEC.read_text()), {"nats": nats}, "nats",
                              [{"name": "nats", "id": "n0", "index": 0, "address": "127.0.0.1"}])


def varz(base: str, user: str, password: str) -> dict[str, Any]:
    status, _, body = http_get(base + "/varz", user, password)
    assert status == 200, body
    return json.loads(body)


def refuses_without_credentials(base: str, user: str) -> bool:
    """/healthz and /varz answer 401 without, and with wrong, basic auth."""
    return all(http_get(base + path)[0] == 401 and http_get(base + path, user, "wrong")[0] == 401
               for path in ("/healthz", "/varz"))
