"""The few cloud controller v2 calls a push needs, on urllib (the VM has no httpx): the
same paths and bodies as cf_platform's CcClient, errors as cf_platform's CfError with the
server's description."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from cf_platform.client.errors import CfError


class CcApi:
    def __init__(self, api: str, timeout: float = 30.0) -> None:
        self.api = api.rstrip("/")
        self.timeout = timeout
        self.token: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                query: dict[str, str] | None = None, base: str | None = None,
                authorization: str | None = None) -> Any:
        """``base`` (default: the API) is another server of the platform (the UAA), and
        ``authorization`` replaces the bearer token for it."""
        url = (base or self.api) + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if authorization or self.token:
            headers["Authorization"] = authorization or f"bearer {self.token}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as error:
            raise CfError(f"{method} {path}: the cloud controller answered {error.code}: "
                          f"{_description(error.read())}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CfError(f"Cannot reach the cloud controller at {self.api} ({method} {path}): {reason}") from None
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise CfError(f"{method} {path}: the cloud controller answered something that is not JSON") from None

    def json(self, method: str, path: str, body: dict | None = None, query: dict[str, str] | None = None) -> Any:
        return self.request(method, path, json.dumps(body).encode() if body is not None else None,
                            "application/json" if body is not None else None, query)

    def login(self, user: str, password: str) -> None:
        """A password grant at the token endpoint /v2/info names (the UAA, as the `cf` client
        with its empty secret; the CC itself when it has no UAA)."""
        endpoint = str(self.json("GET", "/v2/info").get("token_endpoint") or self.api).rstrip("/")
        form = urllib.parse.urlencode({"grant_type": "password", "username": user, "password": password})
        answer = self.request("POST", "/oauth/token", form.encode(), "application/x-www-form-urlencoded",
                              base=endpoint, authorization="Basic " + base64.b64encode(b"cf:").decode())
        self.token = answer["access_token"]

    def upload_bits(self, guid: str, data: bytes) -> None:
        boundary = uuid.uuid4().hex
        parts = [
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n".encode(),
            (f"--{boundary}\r\nContent-Disposition: form-data; name=\"application\"; filename=\"application.zip\"\r\n"
             f"Content-Type: application/zip\r\n\r\n").encode() + data + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        self.request("PUT", f"/v2/apps/{guid}/bits", b"".join(parts), f"multipart/form-data; boundary={boundary}")


def _description(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:200] or "(no body)"
    if isinstance(parsed, dict):
        return str(parsed.get("description") or parsed.get("error_description") or parsed)[:300]
    return str(parsed)[:300]
