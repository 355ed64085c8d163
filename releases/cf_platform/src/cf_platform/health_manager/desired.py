"""Reading the desired state from the cloud controller (``GET /internal/apps``, basic auth).

urllib rather than an HTTP library: the HM runs on the stemcell's bare python3.
"""

from __future__ import annotations

import base64
import json
import urllib.request

from .decisions import DesiredApp


class DesiredStateError(Exception):
    pass


def fetch_desired(cc_url: str, user: str, password: str, timeout: float = 10.0) -> list[DesiredApp]:
    request = urllib.request.Request(f"{cc_url}/internal/apps")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError) as e:
        raise DesiredStateError(f"GET {cc_url}/internal/apps failed: {e}") from e
    if not isinstance(data, list):
        raise DesiredStateError("GET /internal/apps: expected a JSON list")
    try:
        return [DesiredApp.from_json(a) for a in data]
    except (KeyError, TypeError, ValueError) as e:
        raise DesiredStateError(f"GET /internal/apps: unexpected entry: {e}") from e
