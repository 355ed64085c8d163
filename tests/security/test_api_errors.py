"""Attack: malformed and out-of-range requests to a real director's API, over HTTP.

Each used to end in an uncaught exception (a bare HTTP 500) or, for a task's output, in
directories created for a task that does not exist. Now every one is a JSON error with a
4xx status that names the field, and nothing is written.
"""

from __future__ import annotations

import pytest

from tests.director.live_director import api
from tests.harness import LocalDirector

HUGE_DURATION_MANIFEST = """\
name: certs
variables:
- name: ca
  type: certificate
  options: {is_ca: true, common_name: ca}
- name: forever
  type: certificate
  options: {ca: ca, common_name: x, duration: 1000000000000}
"""


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    local = LocalDirector(tmp_path_factory.mktemp("api-errors"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert body["code"] == status and body["error"] == body["description"]
    return body["error"]


def test_huge_certificate_duration_is_a_400_naming_the_field(director):
    with api(director) as client:
        message = error_of(client.post("/deployments", json={"manifest": HUGE_DURATION_MANIFEST}), 400)
        assert message.startswith("variables/forever/options/duration: must be at most 36500")
        assert error_of(client.post("/deployments/diff", json={"manifest": HUGE_DURATION_MANIFEST}), 400)
        assert client.get("/deployments/certs/variables").json() == []  # nothing was generated or stored


def test_output_of_a_task_that_does_not_exist_is_a_404_and_creates_nothing(director):
    tasks_dir = director.data_dir / "tasks"
    before = sorted(p.name for p in tasks_dir.iterdir()) if tasks_dir.exists() else []
    with api(director) as client:
        for path in ("/tasks/999999/output", "/tasks/999999/output?type=debug", "/tasks/999999",
                     "/tasks/99999999999999999999999999/output"):
            assert "not found" in error_of(client.get(path), 404), path
        assert "not found" in error_of(client.delete("/tasks/999999"), 404)
    after = sorted(p.name for p in tasks_dir.iterdir()) if tasks_dir.exists() else []
    assert after == before


@pytest.mark.parametrize(("method", "path", "body", "status", "fragment"), [
    ("POST", "/deployments", [1, 2], 400, "request body: expected a JSON object"),
    ("POST", "/deployments", {"manifest": ["name: x"]}, 400, "manifest: expected a string"),
    ("POST", "/deployments", {"manifest": "name: x\n", "dry_run": "yes"}, 400, "dry_run: expected true or false"),
    ("POST", "/configs", {"content": 42}, 400, "content: expected a string"),
    ("GET", "/tasks?limit=-1", None, 400, "limit: must be between 1 and 10000"),
    ("GET", "/tasks?limit=99999999999999999999999", None, 400, "limit: expected an integer"),
    ("GET", "/events?limit=1e9", None, 400, "limit: expected an integer"),
    ("GET", "/deployments/nope", None, 404, "Deployment 'nope' doesn't exist"),
    ("GET", "/deployments/nope/instances", None, 404, "Deployment 'nope' doesn't exist"),
    ("POST", "/deployments/nope/instances/action", {"action": "explode"}, 400, "action: must be one of"),
    ("POST", "/deployments/nope/ssh", {"instance": "web/0", "public_key": "x", "expires_in": 10 ** 30}, 400,
     "expires_in: must be between 1 and"),
    ("GET", "/deployments/nope/variables/secret", None, 404, "Variable 'secret' not found"),
    ("PUT", "/disks/disk-1/attachments", ["x"], 400, "request body: expected a JSON object"),
    ("PUT", "/disks/disk-1/attachments", {"deployment": "d"}, 400, "missing field 'instance'"),
    ("GET", "/resources/..%2F..%2Fdirector.db", None, 404, "Invalid blob id"),
    ("DELETE", "/resources/0123456789abcdef0123456789abcdef", None, 404, "No fetched logs"),
    ("GET", "/no/such/route", None, 404, "Not Found"),
    ("PUT", "/info", None, 405, "Method Not Allowed"),
])
def test_bad_requests_are_json_errors_naming_the_field(director, method, path, body, status, fragment):
    with api(director) as client:
        response = client.request(method, path, json=body)
    assert fragment in error_of(response, status)
