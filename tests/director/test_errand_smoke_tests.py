"""The smoke_tests errand's program on the host, as bin/run starts it (python3 -m smoke_tests
with the release's and cf-platform's sources on PYTHONPATH): a failing step is named and
exits 1, and a cloud controller that answers wrongly is reported with its description.
The full run against a deployed Cloud Foundry is in tests/e2e/cf/test_cf.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.harness import REPO, free_port

PYTHONPATH = f"{REPO / 'releases/smoke_tests/src'}:{REPO / 'releases/cf_platform/src'}"


def run_smoke(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "smoke_tests.json"
    path.write_text(json.dumps(config))
    return subprocess.run([sys.executable, "-m", "smoke_tests", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": PYTHONPATH, "PATH": "/usr/bin:/bin"})


def test_an_unreachable_cloud_controller_fails_the_login_step(tmp_path):
    port = free_port()  # nothing listens there
    result = run_smoke(tmp_path, {"api": f"http://127.0.0.1:{port}", "routers": ["127.0.0.1:1"],
                                  "user": "admin", "password": "s3cr3t-pass"})
    assert result.returncode == 1
    assert "--- log in" in result.stdout
    assert f"smoke_tests FAILED at step 'log in': Cannot reach the cloud controller at http://127.0.0.1:{port}" \
        in result.stderr
    assert "s3cr3t-pass" not in result.stdout + result.stderr


def test_missing_configuration_is_named(tmp_path):
    result = run_smoke(tmp_path, {"api": "http://127.0.0.1:1", "routers": []})
    assert result.returncode == 1
    assert "smoke_tests FAILED at step 'config': missing routers, user, password" in result.stderr


class _Refusing(BaseHTTPRequestHandler):
    """A cloud controller that is its own token endpoint (no UAA) and refuses every login, as
    the real one does a wrong password."""

    def do_GET(self) -> None:  # noqa: N802
        host, port = self.server.server_address[:2]
        self._answer(200, {"token_endpoint": f"http://{host}:{port}"})

    def do_POST(self) -> None:  # noqa: N802
        self._answer(401, {"code": 1000, "description": "Invalid credentials"})

    def _answer(self, status: int, document: dict) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_cc():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_refused_login_shows_the_cloud_controllers_description(tmp_path, refusing_cc):
    result = run_smoke(tmp_path, {"api": refusing_cc, "routers": ["127.0.0.1:1"], "user": "admin",
                                  "password": "wrong"})
    assert result.returncode == 1
    assert ("smoke_tests FAILED at step 'log in': POST /oauth/token: the cloud controller answered 401: "
            "Invalid credentials") in result.stderr
