"""A thin httpx client of the director API, turning HTTP errors into clear BoshPyErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import httpx

from bosh_py.cli.config import CliConfig
from bosh_py.cli.uaa_session import director_auth
from bosh_py.errors import BoshPyError


class DirectorClient:
    def __init__(self, config: CliConfig, timeout: float = 60.0) -> None:
        self.url, self.timeout = config.url, timeout
        # an http:// director has no TLS to verify, and building httpx's default TLS context
        # (reading the CA bundle) is ~0.1 s of every command
        tls = not config.url.startswith("http://")
        self.http = httpx.Client(base_url=config.url, auth=director_auth(config), timeout=timeout, verify=tls)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise BoshPyError(f"Cannot reach the director at {self.url}: {error}") from error
        if response.status_code >= 400:
            try:
                description = response.json().get("description", response.text)
            except ValueError:
                description = response.text.strip()
            if response.status_code == 400:  # the director's own message about the request
                raise BoshPyError(description)
            raise BoshPyError(f"Director responded {response.status_code}: {description}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs).json()

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs).json()

    def upload(self, path: str, file: Path, **params: Any) -> Any:
        with file.open("rb") as stream:
            return self.request("POST", path, content=stream, params=params,
                                headers={"Content-Type": "application/octet-stream"}, timeout=600).json()

    def download(self, path: str, dest: Path) -> None:
        try:
            with self.http.stream("GET", path, timeout=600) as response:
                if response.status_code >= 400:
                    raise BoshPyError(f"Director responded {response.status_code} for {path}")
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as error:
            raise BoshPyError(f"Downloading {path} from the director failed: {error}") from error

    def task_output(self, task_id: int, kind: str, offset: int = 0, wait: int = 0) -> tuple[str, int, str]:
        """The task's log past ``offset``, the next offset and the task's state; ``wait``:
        seconds the director may hold an empty answer for more (or the task's end)."""
        response = self.request("GET", f"/tasks/{task_id}/output", params={"type": kind, "offset": offset, "wait": wait},
                                timeout=self.timeout + wait)
        return response.text, int(response.headers.get("X-Next-Offset", offset)), response.headers["X-Task-State"]

    def follow_task(self, task_id: int, on_event: Callable[[str], None], wait: int = 5) -> dict:
        """Stream the event log until the task ends; returns the final task record."""
        offset, state = 0, "queued"
        while state in ("queued", "processing", "cancelling"):
            text, offset, state = self.task_output(task_id, "event", offset, wait)
            for line in text.splitlines():
                if line.strip():
                    on_event(line)
        return self.get(f"/tasks/{task_id}")
