"""May this bearer token read this app? The cloud controller decides (GET /v2/apps/<guid>).

Asking the CC, with the follower's own Authorization header, keeps the log server out of
the token business: it works whatever the CC accepts (its HMAC tokens, UAA's JWTs) and
whatever the CC's roles say (a space auditor may read, a stranger gets 403/404). Accepted
pairs are remembered for ``cache_seconds`` (keyed by a hash of the token, never the token).
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: int          # what to answer the follower when refused: 401, 403, 404 or 502
    reason: str = ""


class CcAuthorizer:
    def __init__(self, cc_url: str, timeout: float = 5.0, cache_seconds: float = 5.0) -> None:
        self.cc_url = cc_url.rstrip("/")
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._accepted: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, authorization: str | None, app: str, use_cache: bool = True) -> Verdict:
        if not authorization or not authorization.lower().startswith("bearer "):
            return Verdict(False, 401, "a bearer token is required (cf-py login)")
        key = (hashlib.sha256(authorization.encode()).hexdigest(), app)
        now = time.monotonic()
        if use_cache:
            with self._lock:
                until = self._accepted.get(key)
            if until is not None and until > now:
                return Verdict(True, 200)
        url = f"{self.cc_url}/v2/apps/{urllib.parse.quote(app, safe='')}"
        request = urllib.request.Request(url, headers={"Authorization": authorization, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (OSError, ValueError) as error:
            return Verdict(False, 502, f"the cloud controller could not be asked: {error}")
        if status == 200:
            with self._lock:
                if len(self._accepted) > 10_000:
                    self._accepted = {k: v for k, v in self._accepted.items() if v > now}
                self._accepted[key] = now + self.cache_seconds
            return Verdict(True, 200)
        if status in (401, 403, 404):
            reason = {401: "the cloud controller did not accept the token",
                      403: "this token may not read the app",
                      404: "no such app (or it is not visible to this token)"}[status]
            return Verdict(False, status, reason)
        return Verdict(False, 502, f"the cloud controller answered {status}")
