"""The DEA as a real process on a real nats-server, running real containers (root only):
advertise, discover with its delay, staging over NATS, start → RUNNING → router.register,
find.droplet with stats and logs, heartbeats, crash, never-opened port, OOM, stop, update,
router.start, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from .conftest import needs_root
from .helpers import (CGROUP_ROOT, HELLO_APP, HUNGRY_APP, SILENT_APP, http_get, make_zip, pid_alive,
                      wait_until)

pytestmark = [needs_root, pytest.mark.timeout(300)]


def stage(watcher, dea, fake_cc, files: dict[str, str]) -> tuple[str, dict]:
    guid = uuid.uuid4().hex
    fake_cc.bits[guid] = make_zip(files)
    reply = watcher.request(f"staging.{dea.id}.start", {
        "app_id": guid, "name": f"app-{guid[:6]}", "bits_uri": fake_cc.url(guid, "bits"),
        "droplet_upload_uri": fake_cc.url(guid, "droplet"), "buildpack": None, "limits": {"mem": 128}}, 60)
    assert "error" not in reply, reply
    return guid, reply


def start(watcher, dea, fake_cc, guid: str, staged: dict, index: int = 0, mem: int = 128,
          uris: list[str] | None = None, start_command: str | None = "from staging") -> dict:
    message = {"droplet": guid, "name": f"app-{guid[:6]}", "uris": uris if uris is not None else [f"{guid[:8]}.test"],
               "version": "v1", "index": index, "sha1": staged["droplet_sha1"],
               "droplet_uri": fake_cc.url(guid, "droplet"), "limits": {"mem": mem, "disk": 256, "fds": 1000},
               "env": ["GREETING=hello there"], "services": [],
               "start_command": staged["start_command"] if start_command == "from staging" else start_command}
    watcher.publish(f"dea.{dea.id}.start", message)
    return message


def find(watcher, guid: str, **extra) -> list[dict]:
    return [reply for reply, _ in watcher.gather("dea.find.droplet", {"droplet": guid, **extra}, 1.0)]


def instance_pids(dea, instance_id: str) -> list[int]:
    procs = CGROUP_ROOT / "memory" / dea.config["cgroup_parent"] / instance_id / "cgroup.procs"
    return [int(p) for p in procs.read_text().split()] if procs.exists() else []


def container_gone(dea, instance_id: str) -> bool:
    return not any((CGROUP_ROOT / c / dea.config["cgroup_parent"] / instance_id).exists() for c in ("memory", "pids"))


def mapped_ports(dea) -> set[int]:
    """The ports the DEA maps into containers now (its nft map, in its network namespace)."""
    listing = dea.netns.run("nft", "-j", "list", "map", "inet", "bosh_py_dea", "ports")
    assert listing.returncode == 0, listing.stderr
    found: set[int] = set()
    for item in json.loads(listing.stdout)["nftables"]:
        for element in item.get("map", {}).get("elem", []):
            found.add(int(element[0]))
    return found


def container_links(dea) -> list[str]:
    return [name for name in dea.netns.links() if name.startswith("deac")]


@pytest.fixture(scope="module")
def hello(watcher, dea, fake_cc):
    """The hello app, staged once by the DEA over NATS."""
    return stage(watcher, dea, fake_cc, {"app.py": HELLO_APP})


def test_advertise(watcher, dea):
    message = watcher.wait_for("dea.advertise", lambda m: m["id"] == dea.id)
    assert message == {"id": dea.id, "stacks": ["bookworm"], "available_memory": 1024, "available_disk": 8192,
                       "app_id_to_count": {}}


def test_staging_over_nats(hello, fake_cc):
    guid, reply = hello
    assert reply["detected_buildpack"] == "python" and reply["start_command"] == "python3 app.py"
    assert reply["droplet_sha1"] == fake_cc.droplet_sha1(guid)


def test_staging_failure_over_nats(watcher, dea, fake_cc):
    guid = uuid.uuid4().hex
    fake_cc.bits[guid] = make_zip({"data.csv": "1,2"})
    reply = watcher.request(f"staging.{dea.id}.start", {
        "app_id": guid, "name": "x", "bits_uri": fake_cc.url(guid, "bits"),
        "droplet_upload_uri": fake_cc.url(guid, "droplet"), "limits": {"mem": 128}}, 60)
    assert reply["error"] == "None of the buildpacks detected a compatible application" and reply["log"]


def test_discover_answers_only_with_room(watcher, dea):
    answers = watcher.gather("dea.discover", {"droplet": "nothing-here", "name": "n", "runtime": "python",
                                              "sha1": None, "limits": {"mem": 256}}, 1.0)
    assert len(answers) == 1
    reply, _elapsed = answers[0]
    assert reply["id"] == dea.id and reply["ip"] == dea.config["ip"]
    assert watcher.gather("dea.discover", {"droplet": "big", "limits": {"mem": 4096}}, 0.5) == []


def test_start_run_find_heartbeat_update_and_stop(watcher, dea, fake_cc, hello):
    guid, staged = hello
    since = time.monotonic()
    start(watcher, dea, fake_cc, guid, staged, uris=["hello.test", "hi.test"])
    registered = watcher.wait_for("router.register", lambda m: m["app"] == guid, since=since)
    assert registered["host"] == dea.config["ip"] and registered["uris"] == ["hello.test", "hi.test"]
    assert registered["private_instance_index"] == 0
    instance_id, port = registered["private_instance_id"], registered["port"]
    assert dea.config["port_range_start"] <= port <= dea.config["port_range_end"]

    # the app answers on its port, in its container
    seen = json.loads(http_get(f"http://{dea.config['ip']}:{port}/"))
    assert seen["uid"] == dea.config["container_uid_base"] + port - dea.config["port_range_start"]
    assert seen["pid"] <= 16   # PID namespace: init, its network set-up (ip), sh, python
    assert seen["hostname"] == instance_id[:32]    # UTS namespace
    assert seen["cwd"] == "/home/vcap/app" and seen["tmp"] == []   # private /tmp
    assert seen["env"] == {"PORT": str(port), "VCAP_APP_PORT": str(port), "VCAP_APP_HOST": "0.0.0.0",
                           "VCAP_SERVICES": "{}", "HOME": "/home/vcap/app", "GREETING": "hello there"}
    vcap = seen["vcap_application"]
    assert (vcap["instance_id"], vcap["application_id"], vcap["port"], vcap["limits"]["mem"]) == (
        instance_id, guid, port, 128)
    limit = CGROUP_ROOT / "memory" / dea.config["cgroup_parent"] / instance_id / "memory.limit_in_bytes"
    assert int(limit.read_text()) == 128 * 1024 * 1024

    # find.droplet, with stats and with logs
    [reply] = find(watcher, guid, include_stats=True)
    assert {k: reply[k] for k in ("dea", "droplet", "version", "instance", "index", "state", "host", "port")} == {
        "dea": dea.id, "droplet": guid, "version": "v1", "instance": instance_id, "index": 0,
        "state": "RUNNING", "host": dea.config["ip"], "port": port}
    stats = reply["stats"]
    assert stats["mem_quota"] == 128 * 1024 * 1024 and stats["uptime"] > 0
    assert 0 < stats["usage"]["mem"] < 128 * 1024 * 1024 and stats["usage"]["cpu"] >= 0
    [with_logs] = find(watcher, guid, include_logs=True)
    assert "hello app starting, index 0" in with_logs["logs"]["stdout"]
    assert "a line on stderr" in with_logs["logs"]["stderr"]
    assert find(watcher, guid, states=["CRASHED"]) == [] and find(watcher, guid, version="v0") == []

    # heartbeat and advertise carry it
    beat = watcher.wait_for("dea.heartbeat", lambda m: m["dea"] == dea.id and m["droplets"], since=time.monotonic())
    assert beat["droplets"] == [{"droplet": guid, "version": "v1", "instance": instance_id, "index": 0,
                                 "state": "RUNNING", "state_timestamp": beat["droplets"][0]["state_timestamp"]}]
    advert = watcher.wait_for("dea.advertise", lambda m: m["id"] == dea.id and m["app_id_to_count"],
                              since=time.monotonic())
    assert advert["app_id_to_count"] == {guid: 1} and advert["available_memory"] == 1024 - 128

    # discover now waits 10 ms for the instance here + 100 ms x 128/1024 reserved
    [(_reply, elapsed)] = watcher.gather("dea.discover", {"droplet": guid, "limits": {"mem": 128}}, 1.0)
    assert elapsed >= 0.0225

    # routes are re-sent periodically and at once on router.start
    since = time.monotonic()
    watcher.wait_for("router.register", lambda m: m["private_instance_id"] == instance_id, since=since, timeout=5)
    since = time.monotonic()
    watcher.publish("router.start", {"id": "r1", "hosts": ["127.0.0.1"], "minimumRegisterIntervalInSeconds": 20,
                                     "pruneThresholdInSeconds": 120})
    watcher.wait_for("router.register", lambda m: m["private_instance_id"] == instance_id, since=since, timeout=2)

    # dea.update: the dropped uri is unregistered, the new list registered
    since = time.monotonic()
    watcher.publish("dea.update", {"droplet": guid, "uris": ["hello.test", "new.test"]})
    gone = watcher.wait_for("router.unregister", lambda m: m["private_instance_id"] == instance_id, since=since)
    assert gone["uris"] == ["hi.test"]
    again = watcher.wait_for("router.register", lambda m: m["private_instance_id"] == instance_id, since=since)
    assert again["uris"] == ["hello.test", "new.test"]

    # stop: STOPPED, routes gone, no process, no cgroup, no files
    pids = instance_pids(dea, instance_id)
    assert pids
    since = time.monotonic()
    watcher.publish("dea.stop", {"droplet": guid, "version": "v1", "indices": [0]})
    unregistered = watcher.wait_for("router.unregister", lambda m: m["private_instance_id"] == instance_id,
                                    since=since)
    assert unregistered["uris"] == ["hello.test", "new.test"] and unregistered["port"] == port
    # unregistered first, still answering for unregister_grace: the routers stop sending before it stops
    assert all(pid_alive(pid) for pid in pids), "the app was stopped before the routers could drop its route"
    exited = watcher.wait_for("droplet.exited", lambda m: m["instance"] == instance_id, since=since)
    assert exited["reason"] == "STOPPED"
    wait_until(lambda: container_gone(dea, instance_id), 5, message="cgroups removed")
    assert not any(pid_alive(pid) for pid in pids)
    wait_until(lambda: not (Path(dea.config["base_dir"]) / "instances" / instance_id).exists(), 5,
               message="the instance's files removed")
    assert find(watcher, guid) == []


def test_killed_app_is_reported_crashed(watcher, dea, fake_cc, hello):
    guid, staged = hello
    since = time.monotonic()
    start(watcher, dea, fake_cc, guid, staged, index=1)
    registered = watcher.wait_for("router.register", lambda m: m["app"] == guid and m["private_instance_index"] == 1,
                                  since=since)
    instance_id = registered["private_instance_id"]
    slot = registered["port"] - dea.config["port_range_start"]
    assert registered["port"] in mapped_ports(dea) and f"deac{slot}" in container_links(dea)
    pids = instance_pids(dea, instance_id)
    app = [pid for pid in pids if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"python3\0app.py")]
    assert len(app) == 1, pids
    os.kill(app[0], signal.SIGKILL)
    exited = watcher.wait_for("droplet.exited", lambda m: m["instance"] == instance_id, since=since)
    assert exited["reason"] == "CRASHED" and exited["exit_status"] == 137 and exited["index"] == 1
    assert "signal 9" in exited["exit_description"]
    watcher.wait_for("router.unregister", lambda m: m["private_instance_id"] == instance_id, since=since)
    wait_until(lambda: container_gone(dea, instance_id), 5, message="cgroups removed")
    assert not any(pid_alive(pid) for pid in pids)
    # its port mapping and veth pair are gone with it
    wait_until(lambda: registered["port"] not in mapped_ports(dea), 5, message="the port unmapped")
    assert f"deac{slot}" not in container_links(dea)
    # the crashed instance is still findable (with its logs) and in heartbeats
    [crashed] = find(watcher, guid, states=["CRASHED"], include_logs=True)
    assert crashed["instance"] == instance_id and "hello app starting, index 1" in crashed["logs"]["stdout"]
    beat = watcher.wait_for("dea.heartbeat", lambda m: any(d["instance"] == instance_id for d in m["droplets"]),
                            since=time.monotonic())
    assert [d["state"] for d in beat["droplets"] if d["instance"] == instance_id] == ["CRASHED"]
    # and dea.stop of a crashed instance forgets it
    watcher.publish("dea.stop", {"droplet": guid, "instances": [instance_id]})
    wait_until(lambda: find(watcher, guid, instances=[instance_id]) == [], 5, message="crashed instance forgotten")


def test_app_that_never_opens_its_port(watcher, dea, fake_cc):
    guid, staged = stage(watcher, dea, fake_cc, {"worker.py": SILENT_APP, "Procfile": "web: python3 worker.py\n"})
    since = time.monotonic()
    start(watcher, dea, fake_cc, guid, staged)
    timeout = dea.config["health_check_timeout"]
    exited = watcher.wait_for("droplet.exited", lambda m: m["droplet"] == guid, since=since, timeout=timeout + 15)
    assert exited["reason"] == "CRASHED" and "never opened its port" in exited["exit_description"]
    assert time.monotonic() - since >= timeout
    assert [m for m in watcher.on("router.register", since) if m["app"] == guid] == []
    wait_until(lambda: container_gone(dea, exited["instance"]), 5, message="cgroups removed")


def test_app_over_its_memory_limit_is_oom_killed(watcher, dea, fake_cc):
    guid, staged = stage(watcher, dea, fake_cc, {"app.py": HUNGRY_APP})
    since = time.monotonic()
    start(watcher, dea, fake_cc, guid, staged, mem=64)
    exited = watcher.wait_for("droplet.exited", lambda m: m["droplet"] == guid, since=since, timeout=30)
    assert exited["reason"] == "CRASHED" and exited["exit_status"] == 137
    assert exited["exit_description"].startswith("out of memory")
    wait_until(lambda: container_gone(dea, exited["instance"]), 5, message="cgroups removed")
    [crashed] = find(watcher, guid, include_logs=True)
    assert "still alive" not in crashed["logs"]["stdout"]


def test_static_app_is_served(watcher, dea, fake_cc):
    guid, staged = stage(watcher, dea, fake_cc, {"index.html": "<h1>static hello</h1>"})
    assert staged["detected_buildpack"] == "staticfile"
    since = time.monotonic()
    start(watcher, dea, fake_cc, guid, staged, start_command=None)  # the command comes from the droplet
    registered = watcher.wait_for("router.register", lambda m: m["app"] == guid, since=since)
    assert "static hello" in http_get(f"http://{dea.config['ip']}:{registered['port']}/")
    # left running: the DEA's shutdown at the end of the module must stop it and clean up


def test_bad_droplet_sha1_crashes_the_instance(watcher, dea, fake_cc, hello):
    guid, staged = hello
    since = time.monotonic()
    start(watcher, dea, fake_cc, guid, {**staged, "droplet_sha1": "0" * 40}, index=7)
    exited = watcher.wait_for("droplet.exited", lambda m: m["droplet"] == guid and m["index"] == 7, since=since)
    assert exited["reason"] == "CRASHED" and "sha1 mismatch" in exited["exit_description"]
