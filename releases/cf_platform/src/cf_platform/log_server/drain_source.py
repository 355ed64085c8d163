"""Where drains come from: the cloud controller's ``GET /internal/log_drains`` (basic auth
with its internal_api user) every ``drain_refresh_interval``, plus the config's static ones.

The CC answers ``{"drains": {"<app guid>": ["syslog://host:port", ...]}}`` from the
``syslog_drain_url`` of each app's service bindings. While the CC cannot be asked, the last
answer stays in force.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

log = logging.getLogger(__name__)

Mapping = dict[str, tuple[str, ...]]


def parse_drains(document: object) -> Mapping:
    if not isinstance(document, dict) or not isinstance(document.get("drains"), dict):
        raise ValueError("expected {\"drains\": {app guid: [url, ...]}}")  # noqa: TRY004 - a bad answer, not a bad call
    result: Mapping = {}
    for app, urls in document["drains"].items():
        if isinstance(urls, list):
            result[str(app)] = tuple(u for u in urls if isinstance(u, str))
    return result


def merged(static: Mapping, fetched: Mapping) -> Mapping:
    result = dict(fetched)
    for app, urls in static.items():
        result[app] = tuple(dict.fromkeys((*result.get(app, ()), *urls)))
    return result


class DrainSource:
    def __init__(self, cc_url: str, user: str | None, password: str | None, interval: float,
                 static: Mapping, apply: Callable[[Mapping], None], timeout: float = 5.0) -> None:
        self.url = f"{cc_url.rstrip('/')}/internal/log_drains"
        self._auth = ("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()) if user and password else None
        self.interval = interval
        self.static = static
        self.apply = apply
        self.timeout = timeout
        self.fetched: Mapping = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        if self._auth is not None and self.interval > 0:
            request = urllib.request.Request(self.url, headers={"Authorization": self._auth})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    self.fetched = parse_drains(json.loads(response.read()))
            except (OSError, ValueError) as error:
                log.warning("could not read the syslog drains from the cloud controller: %s", error)
        self.apply(merged(self.static, self.fetched))

    def start(self) -> None:
        self.refresh()
        if self._auth is not None and self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="drain-source", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()
