"""Staging and running apps: the CC's NATS conversation with a DEA (README contract)."""

from __future__ import annotations

import hashlib
import time

import httpx

from tests.cf.cc.plumbing import DeaStandIn, end_process, eventually, login, make_zip, start_cc, start_nats

APP = {"app.py": "print('hi')\n", "Procfile": "web: python3 app.py\n"}


def push(cc, auth, name="hello", instances=1, files=APP, memory=128, start=True) -> str:
    """What `cf-py push` does, by hand: app, route, bits, start."""
    guid = httpx.post(cc.url + "/v2/apps", json={"name": name, "instances": instances, "memory": memory},
                      headers=auth).json()["metadata"]["guid"]
    domain = httpx.get(cc.url + "/v2/shared_domains", headers=auth).json()["resources"][0]["metadata"]["guid"]
    route = httpx.post(cc.url + "/v2/routes", json={"host": name, "domain_guid": domain},
                       headers=auth).json()["metadata"]["guid"]
    assert httpx.put(cc.url + f"/v2/apps/{guid}/routes/{route}", headers=auth).status_code == 201
    r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", content=make_zip(files), headers=auth)
    assert r.status_code == 201, r.text
    if start:
        r = httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=auth)
        assert r.status_code == 201, r.text
    return guid


def app_entity(cc, auth, guid) -> dict:
    return httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth).json()["entity"]


def staged(cc, auth, guid, state="STAGED") -> dict:
    return eventually(lambda: (e := app_entity(cc, auth, guid))["package_state"] == state and e)


def test_push_stages_then_starts_every_instance(cc, auth, dea):
    guid = push(cc, auth, instances=2)
    entity = staged(cc, auth, guid)
    assert entity["detected_buildpack"] == "python"
    assert entity["detected_start_command"] == "python3 app.py"
    # staging request: the README's exact fields, URIs carrying the internal credentials
    [staging] = dea.stagings
    assert staging["app_id"] == guid and staging["name"] == "hello"
    assert staging["bits_uri"] == f"http://internal:internal-secret@127.0.0.1:{cc.port}/internal/apps/{guid}/bits"
    assert staging["droplet_upload_uri"].endswith(f"/internal/apps/{guid}/droplet")
    assert staging["limits"]["mem"] == 128 and "buildpack" in staging
    # the droplet the DEA uploaded is what the CC serves, and its sha1 is recorded
    droplet = httpx.get(cc.url + f"/internal/apps/{guid}/droplet", auth=cc.internal_auth)
    assert droplet.status_code == 200
    assert hashlib.sha1(droplet.content).hexdigest() == entity["droplet_sha1"]
    log = httpx.get(cc.url + f"/v2/apps/{guid}/staging_log", headers=auth).json()
    assert f"Python app detected in the bits of {guid}" in log["log"]
    # one dea.<id>.start per index, README payload
    eventually(lambda: len(dea.starts) == 2)
    assert sorted(s["index"] for s in dea.starts) == [0, 1]
    start = dea.starts[0]
    assert start.keys() >= {"droplet", "name", "uris", "version", "index", "sha1", "droplet_uri", "limits",
                            "env", "start_command", "services"}
    assert start["droplet"] == guid and start["uris"] == ["hello.apps.test"]
    assert start["version"] == entity["version"] and start["sha1"] == entity["droplet_sha1"]
    assert start["limits"] == {"mem": 128, "disk": 1024, "fds": 16384}
    assert start["droplet_uri"] == staging["droplet_upload_uri"]
    assert start["start_command"] == "python3 app.py" and start["services"] == [] and start["env"] == []
    # instances and stats from dea.find.droplet
    instances = eventually(lambda: (i := httpx.get(cc.url + f"/v2/apps/{guid}/instances", headers=auth).json())
                           and all(v["state"] == "RUNNING" for v in i.values()) and i)
    assert set(instances) == {"0", "1"}
    # each index shows its own instance's answer (the stand-in's per-instance values)
    running = {i.index: i for i in dea.live(guid)}
    for index in (0, 1):
        shown, real = instances[str(index)], running[index]
        assert (shown["instance"], shown["port"], shown["dea"]) == (real.instance, real.port, dea.id)
        assert shown["uptime"] >= 0
    stats = httpx.get(cc.url + f"/v2/apps/{guid}/stats", headers=auth).json()
    for index in (0, 1):
        assert stats[str(index)]["stats"]["usage"]["mem"] == running[index].usage_mem
        assert stats[str(index)]["stats"]["mem_quota"] == 128 * 1024 * 1024   # what the CC told the DEA
        assert stats[str(index)]["stats"]["uris"] == ["hello.apps.test"]
    logs = httpx.get(cc.url + f"/v2/apps/{guid}/logs", headers=auth).json()["instances"]
    assert sorted(entry["index"] for entry in logs) == [0, 1]
    for entry in logs:
        assert entry["stdout"] == running[entry["index"]].log_line()


def test_staging_failure_is_surfaced(cc, auth, dea):
    guid = push(cc, auth, files={"README.txt": "no app here"})
    entity = staged(cc, auth, guid, "FAILED")
    assert entity["staging_failed_reason"] == "StagingError"
    assert "none of the buildpacks" in entity["staging_failed_description"]
    log = httpx.get(cc.url + f"/v2/apps/{guid}/staging_log", headers=auth).json()
    assert "None of the buildpacks detected" in log["log"]
    r = httpx.get(cc.url + f"/v2/apps/{guid}/instances", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == "CF-StagingError"
    assert dea.starts == []
    # fixed bits restage on the next start
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STOPPED"}, headers=auth)
    httpx.put(cc.url + f"/v2/apps/{guid}/bits", content=make_zip(APP), headers=auth)
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=auth)
    staged(cc, auth, guid)
    eventually(lambda: len(dea.starts) == 1)


def test_not_staged_yet_and_stopped_errors(cc, auth, dea):
    guid = push(cc, auth, start=False)
    r = httpx.get(cc.url + f"/v2/apps/{guid}/stats", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == "CF-AppStoppedStatsError"


def test_scale_up_and_down(cc, auth, dea):
    guid = push(cc, auth, instances=1)
    eventually(lambda: len(dea.starts) == 1)
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"instances": 3}, headers=auth)
    eventually(lambda: len(dea.starts) == 3)
    assert [s["index"] for s in dea.starts] == [0, 1, 2]
    assert len({s["version"] for s in dea.starts}) == 1    # scaling is not a restart
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"instances": 1}, headers=auth)
    eventually(lambda: {"droplet": guid, "indices": [1, 2]} in dea.stops)
    eventually(lambda: [i.index for i in dea.live(guid)] == [0])


def test_stop_start_and_memory_change_restart(cc, auth, dea):
    guid = push(cc, auth, instances=2)
    eventually(lambda: len(dea.live(guid)) == 2)
    first_version = app_entity(cc, auth, guid)["version"]
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STOPPED"}, headers=auth)
    eventually(lambda: {"droplet": guid} in dea.stops)
    eventually(lambda: dea.live(guid) == [])
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=auth)
    eventually(lambda: len(dea.live(guid)) == 2)
    second_version = app_entity(cc, auth, guid)["version"]
    assert second_version != first_version
    assert len(dea.stagings) == 1     # a staged app starts from its droplet
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"memory": 256}, headers=auth)
    eventually(lambda: {"droplet": guid, "version": second_version} in dea.stops)
    eventually(lambda: len(dea.live(guid)) == 2 and all(i.version != second_version for i in dea.live(guid)))
    assert dea.starts[-1]["limits"]["mem"] == 256


def test_delete_stops_and_removes_everything(cc, auth, dea):
    guid = push(cc, auth)
    staged(cc, auth, guid)
    eventually(lambda: len(dea.live(guid)) == 1)
    assert httpx.delete(cc.url + f"/v2/apps/{guid}", headers=auth).status_code == 204
    eventually(lambda: {"droplet": guid} in dea.stops)
    assert httpx.get(cc.url + f"/v2/apps/{guid}", headers=auth).status_code == 404
    assert httpx.get(cc.url + f"/internal/apps/{guid}/droplet", auth=cc.internal_auth).status_code == 404
    assert httpx.get(cc.url + "/v2/routes", params={"q": "host:hello"}, headers=auth).json()["resources"] == []
    assert httpx.get(cc.url + "/internal/apps", auth=cc.internal_auth).json() == []


def test_route_binding_on_a_running_app_sends_dea_update(cc, auth, dea):
    guid = push(cc, auth)
    eventually(lambda: len(dea.starts) == 1)
    domain = httpx.get(cc.url + "/v2/shared_domains", headers=auth).json()["resources"][0]["metadata"]["guid"]
    route = httpx.post(cc.url + "/v2/routes", json={"host": "www", "domain_guid": domain},
                       headers=auth).json()["metadata"]["guid"]
    httpx.put(cc.url + f"/v2/apps/{guid}/routes/{route}", headers=auth)
    eventually(lambda: {"droplet": guid, "uris": ["hello.apps.test", "www.apps.test"]} in dea.updates)


def test_health_start_and_stop(cc, auth, dea):
    guid = push(cc, auth, instances=2)
    eventually(lambda: len(dea.starts) == 2)
    version = app_entity(cc, auth, guid)["version"]
    dea.publish("health.start", {"droplet": guid, "version": "stale-version", "indices": [1]})
    dea.publish("health.start", {"droplet": guid, "version": version, "indices": [-1, 1]})  # malformed: dropped
    dea.publish("health.start", {"droplet": guid, "version": version, "indices": [1, 5]})   # 5: beyond the app
    eventually(lambda: len(dea.starts) == 3)
    assert dea.starts[2]["index"] == 1 and dea.starts[2]["version"] == version
    time.sleep(0.5)
    assert len(dea.starts) == 3
    victim = dea.live(guid)[0].instance
    dea.publish("health.stop", {"droplet": guid, "instances": [victim]})
    eventually(lambda: {"droplet": guid, "instances": [victim]} in dea.stops)
    # a stopped app is not restarted by the health manager
    httpx.put(cc.url + f"/v2/apps/{guid}", json={"state": "STOPPED"}, headers=auth)
    stopped_version = app_entity(cc, auth, guid)["version"]
    dea.publish("health.start", {"droplet": guid, "version": stopped_version, "indices": [0]})
    time.sleep(0.5)
    assert len(dea.starts) == 3


def test_crashes_are_recorded(cc, auth, dea):
    guid = push(cc, auth)
    eventually(lambda: len(dea.live(guid)) == 1)
    dea.crash(dea.live(guid)[0].instance, "app exited: ModuleNotFoundError")
    crashes = eventually(lambda: httpx.get(cc.url + f"/v2/apps/{guid}/crashes", headers=auth).json())
    assert crashes[0]["exit_description"] == "app exited: ModuleNotFoundError"
    assert crashes[0]["index"] == 0 and crashes[0]["current_version"] is True
    instances = httpx.get(cc.url + f"/v2/apps/{guid}/instances", headers=auth).json()
    assert instances["0"]["state"] == "CRASHED"


def test_new_bits_for_a_started_app_restage_and_replace(cc, auth, dea):
    guid = push(cc, auth)
    eventually(lambda: len(dea.live(guid)) == 1)
    old = app_entity(cc, auth, guid)["version"]
    httpx.put(cc.url + f"/v2/apps/{guid}/bits", content=make_zip({**APP, "v2": "x"}), headers=auth)
    eventually(lambda: len(dea.stagings) == 2)
    eventually(lambda: len(dea.live(guid)) == 1 and dea.live(guid)[0].version != old)


def test_no_dea_fails_staging_clearly(tmp_path):
    lonely_nats = start_nats(tmp_path)
    try:
        cc = start_cc(tmp_path / "cc", lonely_nats)
        try:
            auth = login(cc)
            guid = push(cc, auth)
            entity = staged(cc, auth, guid, "FAILED")
            assert "no DEA answered dea.discover" in entity["staging_failed_description"]
        finally:
            end_process(cc.proc)
    finally:
        end_process(lonely_nats.proc)


def test_two_deas_share_instances(cc, auth, dea, nats_server):
    other = DeaStandIn(nats_server).start()
    try:
        push(cc, auth, instances=4)
        eventually(lambda: len(dea.starts) + len(other.starts) == 4)
    finally:
        other.stop()
