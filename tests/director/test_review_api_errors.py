"""Review fix: the director's API answers a bad request with a 4xx JSON error the CLI can
print (400 for a malformed body, a missing field or a bad number; 409 when a concurrent
writer changed the same row; 401 for any wrong credential), never a bare HTTP 500.

Real director daemon (`bosh-py director start`), real HTTP requests; no VM is created.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import httpx
import pytest

from tests.harness import LocalDirector


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """(director, authenticated client) for a director that runs for this module."""
    local = LocalDirector(tmp_path_factory.mktemp("api"))
    try:
        local.start()
        login = json.loads((local.root / "cli.json").read_text())
        with httpx.Client(base_url=login["url"], auth=(login["user"], login["password"]), timeout=30) as client:
            yield local, client
    finally:
        local.stop()


def assert_json_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    for fragment in fragments:
        assert fragment in body["description"], body


def test_a_task_id_that_is_not_a_number_is_a_400(api):
    _, client = api
    assert_json_error(client.get("/tasks/12abc"), 400, "Bad request", "12abc")


def test_a_body_that_is_not_json_is_a_400(api):
    _, client = api
    response = client.post("/deployments", content=b'{"manifest": "name: web',
                           headers={"Content-Type": "application/json"})
    assert_json_error(response, 400, "Bad request")


def test_a_missing_field_is_a_400_naming_it(api):
    _, client = api
    assert_json_error(client.post("/deployments", json={}), 400, "missing field 'manifest'")
    assert_json_error(client.post("/deployments/web/ssh", json={"public_key": "x"}), 400, "missing field 'instance'")


def test_a_non_ascii_password_is_a_401_not_a_crash(api):
    local, _ = api
    url = json.loads((local.root / "cli.json").read_text())["url"]
    response = httpx.get(f"{url}/deployments", auth=("admin", "pässwörd"), timeout=30)
    assert response.status_code == 401, response.text


def director_is_stuck(client: httpx.Client) -> bool:
    """True once the director's event loop stops answering (it waits on the DB write lock)."""
    try:
        client.get("/info", timeout=0.5)
        return False
    except httpx.TimeoutException:
        return True


def test_a_concurrent_write_to_the_same_row_is_a_409(api):
    """Two operators deploy the same new deployment at once: both see no stored password,
    both generate one; the second insert hits the credential store's unique key. Here the
    other operator is a second writer on the director's SQLite DB, holding the write lock
    until the director has read the store, then committing its own value first."""
    local, client = api
    manifest = "name: racing\nvariables:\n- name: admin_password\n  type: password\n"
    other = sqlite3.connect(local.data_dir / "director.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        answer: dict[str, httpx.Response] = {}
        request = threading.Thread(target=lambda: answer.setdefault(
            "response", client.post("/deployments", json={"manifest": manifest})))
        request.start()
        deadline = time.monotonic() + 8  # the director's busy timeout is 10 s
        while not director_is_stuck(client) and time.monotonic() < deadline:
            time.sleep(0.1)
        other.execute("INSERT INTO variables (deployment_name, name, value) VALUES (?, ?, ?)",
                      ("racing", "admin_password", json.dumps({"value": "the other operator's"})))
        other.execute("COMMIT")
        request.join(timeout=30)
    finally:
        other.close()
    assert_json_error(answer["response"], 409, "Conflict")
    assert "the other operator's" not in answer["response"].text


def test_an_unknown_ssh_action_is_refused_before_anything_else(api):
    """Only `setup` and `cleanup` exist; anything else used to fall through to a cleanup."""
    _, client = api
    response = client.post("/deployments/web/ssh", json={"instance": "web/0", "public_key": "ssh-ed25519 AAAA",
                                                         "action": "install"})
    assert_json_error(response, 400, "setup or cleanup")
