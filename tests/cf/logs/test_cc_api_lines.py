"""The cloud controller's ``API/<index>`` lines reach `cf-py logs`: a real CC process sending
to the real log server process, real nats-server, the DEA stand-in on NATS
(tests/cf/cc/plumbing.py), the real ``cf-py``; and the CC job renders the sender's config."""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import yaml
from cf_platform.cloud_controller.api_log_lines import (
    ApiLines,
    changed_fields,
    masked_url,
    ruby_hash,
)
from cf_platform.cloud_controller.config import ConfigError
from cf_platform.cloud_controller.models import App

from bosh_py.release import JobForRender, link_from_provider, render_instance_jobs
from bosh_py.release.models import JobSpec
from tests.cf.cc.plumbing import end_process, eventually, login, make_zip, start_cc
from tests.harness import free_port, wait_until

from .log_server_support import CF_LINE, SENDERS, start_cc_with_logs, start_log_server
from .test_log_server import Lines

CC_INDEX = 2          # the CC's spec.index: its lines are API/2
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cc_sender_password():
    return secrets.token_urlsafe(12)


@pytest.fixture
def logs_cc(tmp_path, nats_server, log_port, cc_sender_password):
    """The CC with a logging_endpoint and, as its job renders it, the `cc` sender's credentials."""
    process = start_cc_with_logs(tmp_path / "cc", nats_server, log_port, index=CC_INDEX, log_server={
        "url": f"http://127.0.0.1:{log_port}", "user": "cc", "password": cc_sender_password})
    yield process
    end_process(process.proc)
    print(process.log()[-3000:])


@pytest.fixture
def log_server(tmp_path, logs_cc, log_port, cc_sender_password):
    senders = {user: {"password": secrets.token_urlsafe(12), "sources": sources} for user, sources in SENDERS.items()}
    senders["cc"] = {"password": cc_sender_password, "sources": ["API"]}
    server = start_log_server(tmp_path / "log_server", logs_cc.url, log_port, senders=senders)
    yield server
    end_process(server.proc)
    print(server.log()[-3000:])


def api_lines(cf, app: str) -> list[str]:
    """The messages of the app's API lines, as `cf-py logs --recent` prints them (the source checked)."""
    found = []
    for text in cf.ok("logs", app, "--recent").splitlines():
        match = CF_LINE.match(text)
        assert match is not None, text
        if match.group(1) == "API":
            assert match.group(2, 3) == (str(CC_INDEX), "OUT"), text
            found.append(match.group(4))
    return found


def until_lines(cf, app: str, count: int) -> list[str]:
    """The app's API lines once there are at least ``count`` (they travel through a queue)."""
    seen: list[str] = []

    def enough() -> bool:
        seen[:] = api_lines(cf, app)
        return len(seen) >= count
    try:
        eventually(enough)
    except AssertionError:
        raise AssertionError(f"API lines of {app}: {seen}") from None
    return seen


def test_push_scale_and_delete_show_as_api_lines(tmp_path, cf, dea, log_server):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text("print('hi')\n")
    cf.ok("push", "hello", "-p", str(app_dir))
    cf.ok("scale", "hello", "-i", "3")
    guid = dea.starts[0]["droplet"]
    wanted = [f"Created app with guid {guid}",
              f"Mapped route hello.apps.test to app with guid {guid}",
              f'Updated app with guid {guid} ({{"state"=>"STARTED"}})',
              f'Updated app with guid {guid} ({{"instances"=>3}})']
    assert until_lines(cf, "hello", len(wanted)) == wanted

    # the deleted app's line reaches whoever follows it then (--recent is refused afterwards)
    follower = cf.follow("logs", "hello")
    try:
        out = Lines(follower)
        assert out.next() == "Connected, tailing logs for app hello..."
        wait_until(lambda: httpx.get(log_server.url + "/varz", auth=log_server.sender_auth("cc")).json()
                   ["followers"] == 1, message="the follower to join")
        cf.ok("delete", "hello", "-f")
        deadline = time.monotonic() + 10
        while True:
            text = out.next(timeout=max(0.1, deadline - time.monotonic()))
            if "Deleted app" in text:
                break
        assert CF_LINE.match(text).groups() == ("API", str(CC_INDEX), "OUT", f"Deleted app with guid {guid}")
        follower.send_signal(signal.SIGINT)
        follower.wait(10)
    finally:
        if follower.poll() is None:
            end_process(follower)


def test_environment_values_never_appear_only_the_changed_names(cf, logs_cc, log_server, admin):
    secret, other = "s3cr3t-" + secrets.token_hex(8), "t0ken-" + secrets.token_hex(8)
    created = httpx.post(logs_cc.url + "/v2/apps", headers=admin, json={
        "name": "keeper", "environment_json": {"DB_PASSWORD": secret, "MODE": "prod"}})
    created.raise_for_status()
    guid = created.json()["metadata"]["guid"]
    httpx.put(logs_cc.url + f"/v2/apps/{guid}", headers=admin, json={
        "environment_json": {"DB_PASSWORD": secret + "-rotated", "API_TOKEN": other, "MODE": "prod"},
        "memory": 128, "buildpack": f"https://deploy:{other}@git.example/buildpack.git"}).raise_for_status()
    wanted = f'Updated app with guid {guid} ({{"memory"=>128, "buildpack"=>"https://***@git.example/buildpack.git", ' \
             '"environment_json"=>"PRIVATE DATA HIDDEN (changed: API_TOKEN, DB_PASSWORD)"})'
    eventually(lambda: wanted in api_lines(cf, "keeper"))
    everything = cf.ok("logs", "keeper", "--recent") + log_server.log() + logs_cc.log()
    assert secret not in everything and other not in everything


def test_routes_mapped_unmapped_and_deleted_show_on_each_app(cf, logs_cc, log_server, admin):
    """cf-py has no map-route: the v2 API calls the cf CLI's map-route/unmap-route/delete-route make."""
    guids = {name: httpx.post(logs_cc.url + "/v2/apps", json={"name": name}, headers=admin).json()["metadata"]["guid"]
             for name in ("one", "two")}
    domain = httpx.get(logs_cc.url + "/v2/shared_domains", headers=admin).json()["resources"][0]["metadata"]["guid"]

    def route(host: str) -> str:
        r = httpx.post(logs_cc.url + "/v2/routes", json={"host": host, "domain_guid": domain}, headers=admin)
        r.raise_for_status()
        return r.json()["metadata"]["guid"]
    shared, own = route("shared"), route("own")
    for guid in guids.values():
        httpx.put(logs_cc.url + f"/v2/apps/{guid}/routes/{shared}", headers=admin).raise_for_status()
    httpx.put(logs_cc.url + f"/v2/apps/{guids['one']}/routes/{own}", headers=admin).raise_for_status()
    httpx.put(logs_cc.url + f"/v2/apps/{guids['one']}/routes/{own}", headers=admin).raise_for_status()  # again
    httpx.delete(logs_cc.url + f"/v2/apps/{guids['one']}/routes/{own}", headers=admin).raise_for_status()
    httpx.delete(logs_cc.url + f"/v2/apps/{guids['one']}/routes/{own}", headers=admin).raise_for_status()  # again
    httpx.delete(logs_cc.url + f"/v2/routes/{shared}", headers=admin).raise_for_status()
    one, two = guids["one"], guids["two"]
    assert until_lines(cf, "one", 5) == [
        f"Created app with guid {one}", f"Mapped route shared.apps.test to app with guid {one}",
        f"Mapped route own.apps.test to app with guid {one}", f"Unmapped route own.apps.test from app with guid {one}",
        f"Unmapped route shared.apps.test from app with guid {one}"]
    assert until_lines(cf, "two", 3) == [
        f"Created app with guid {two}", f"Mapped route shared.apps.test to app with guid {two}",
        f"Unmapped route shared.apps.test from app with guid {two}"]


def test_a_crash_the_dea_reports_shows_its_payload(cf, dea, logs_cc, log_server, admin):
    guid = httpx.post(logs_cc.url + "/v2/apps", json={"name": "crashy", "memory": 64}, headers=admin) \
        .json()["metadata"]["guid"]
    httpx.put(logs_cc.url + f"/v2/apps/{guid}/bits", content=make_zip({"app.py": "print('hi')\n"}),
              headers=admin).raise_for_status()
    httpx.put(logs_cc.url + f"/v2/apps/{guid}", json={"state": "STARTED"}, headers=admin).raise_for_status()
    victim = eventually(lambda: dea.live(guid))[0]
    dea.crash(victim.instance, "out of memory")
    line = eventually(lambda: [m for m in api_lines(cf, "crashy") if m.startswith("App instance exited")])[0]
    assert re.fullmatch(
        rf'App instance exited with guid {guid} payload: \{{"instance"=>"{victim.instance}", "index"=>0, '
        r'"reason"=>"CRASHED", "exit_status"=>1, "exit_description"=>"out of memory", "crash_timestamp"=>\d+\}', line)


def test_the_log_server_down_or_hung_never_slows_the_cloud_controller(tmp_path, nats_server, dea):
    # one log server address refuses connections, the other accepts them and never answers
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        for port in (hung.getsockname()[1], closed_port):
            status_port = free_port()
            cc = start_cc(tmp_path / f"cc-{port}", nats_server, log_server={
                "url": f"http://127.0.0.1:{port}", "user": "cc", "password": "pw", "timeout": 30},
                status={"listen_address": "127.0.0.1", "port": status_port, "user": "st", "password": "stpw"})
            try:
                auth = login(cc)
                guid = httpx.post(cc.url + "/v2/apps", json={"name": "busy"}, headers=auth).json()["metadata"]["guid"]
                started = time.monotonic()
                for n in range(20):
                    r = httpx.put(cc.url + f"/v2/apps/{guid}", json={"instances": n % 3 + 1}, headers=auth,
                                  timeout=10)
                    assert r.status_code == 201, r.text
                assert time.monotonic() - started < 10, "the CC's requests waited for the log server"
                if port == closed_port:   # what could not be sent is dropped and counted (created + 19 changes)
                    varz = f"http://127.0.0.1:{status_port}/varz"
                    wait_until(lambda: httpx.get(varz, auth=("st", "stpw"))  # noqa: B023 - called now
                               .json()["log_lines"]["dropped"] >= 20, message="the dropped lines counted")
            finally:
                end_process(cc.proc)
            assert cc.proc.returncode == 0, cc.log()[-2000:]   # and stopping waits at most a few seconds
    finally:
        hung.close()


# -- the job and the config ------------------------------------------------------------------

CC_JOB = REPO / "releases" / "cloud_controller" / "jobs" / "cloud_controller"
INSTANCE = {"deployment": "cf", "id": "cc-uuid", "index": 1, "az": "z1", "bootstrap": False,
            "networks": {"default": {"ip": "10.244.0.5", "default": ["dns", "gateway"]}}}
CC_PROPS = {"cc": {"domain": "apps.test", "admin_password": "a", "token_secret": "t",
                   "internal_api": {"password": "i"}}}


def _spec(job: Path) -> JobSpec:
    return JobSpec.model_validate(yaml.safe_load((job / "spec").read_text()))


def _link(job: Path, props: dict, name: str, address: str) -> dict:
    instances = [{"name": name, "id": "x", "index": 0, "az": "z1", "address": address, "bootstrap": True}]
    return link_from_provider(_spec(job), props, name, instances, deployment="cf")


def _render_cc(props: dict, links: dict) -> dict:
    spec = _spec(CC_JOB)
    templates = {src: (CC_JOB / "templates" / src).read_text() for src in spec.templates}
    rendered = render_instance_jobs(
        [JobForRender("cloud_controller", spec, (CC_JOB / "monit").read_text(), templates, props)],
        {**INSTANCE, "name": "cloud_controller"}, {"cloud_controller": links})
    return json.loads(rendered.files["cloud_controller"]["config/cloud_controller.json"])


def test_cc_job_sends_api_lines_to_its_log_server_link_with_the_cc_sender():
    nats = _link(REPO / "releases" / "nats" / "jobs" / "nats", {}, "nats", "10.244.0.2")
    log_server = _link(REPO / "releases" / "log_server" / "jobs" / "log_server", {"log_server": {"port": 8090}},
                       "log_server", "10.244.0.20")
    props = {"cc": {**CC_PROPS["cc"], "log_server": {"user": "cc", "password": 'p"w'}}}
    config = _render_cc(props, {"nats": nats, "log_server": log_server})
    assert config["log_server"] == {"url": "http://10.244.0.20:8090", "user": "cc", "password": 'p"w'}
    lines = ApiLines.from_config(config)
    try:
        assert lines.index == 1 and lines.emitter is not None and lines.emitter.settings.user == "cc"
    finally:
        lines.close()
    # an explicit URL wins; without the sender's credentials nothing is sent
    explicit = {"cc": {**props["cc"], "log_server": {**props["cc"]["log_server"], "url": "http://10.0.0.9:1"}}}
    assert _render_cc(explicit, {"nats": nats, "log_server": log_server})["log_server"]["url"] == "http://10.0.0.9:1"
    bare = _render_cc(CC_PROPS, {"nats": nats, "log_server": log_server})
    assert bare["log_server"] is None and ApiLines.from_config(bare).emitter is None


def test_a_bad_log_server_config_stops_the_cc_naming_the_key(tmp_path, nats_server):
    for bad, key in (({"url": "ftp://x", "user": "u", "password": "p"}, "log_server.url"),
                     ({"url": "http://127.0.0.1:1", "user": "u"}, "log_server.password")):
        with pytest.raises(ConfigError, match=re.escape(key)):
            ApiLines.from_config({"log_server": bad})
    with pytest.raises(ConfigError, match="index"):
        ApiLines.from_config({"index": -1})
    with pytest.raises(RuntimeError, match="exited with 1"):
        start_cc(tmp_path / "bad", nats_server, log_server={"url": "http://127.0.0.1:1", "password": "p"})
    assert "config: log_server.user: required" in (tmp_path / "bad" / "cc.log").read_text()


# -- the pure parts ----------------------------------------------------------------------------

def _app(**fields) -> App:
    base = {"guid": "g", "name": "a", "memory": 64, "instances": 1, "disk_quota": 256, "state": "STOPPED",
            "package_state": "STAGED", "version": "v1", "created_at": "", "updated_at": ""}
    return App(**{**base, **fields})


@pytest.mark.parametrize(("old", "new", "shown"), [
    ({}, {"state": "STARTED", "version": "v2"}, {"state": "STARTED"}),
    ({}, {"version": "v2"}, {}),
    ({}, {"name": "b", "instances": 4}, {"name": "b", "instances": 4}),
    ({"environment": {"A": "1", "B": "2"}}, {"environment": {"A": "1", "B": "3", "C": "4"}},
     {"environment_json": "PRIVATE DATA HIDDEN (changed: B, C)"}),
    ({"environment": {"GONE": "x"}}, {}, {"environment_json": "PRIVATE DATA HIDDEN (changed: GONE)"}),
    ({}, {"buildpack": "https://u:pw@h/bp"}, {"buildpack": "https://***@h/bp"}),
])
def test_changed_fields(old, new, shown):
    assert changed_fields(_app(**old), _app(**new)) == shown


def test_ruby_hash_and_masking():
    assert ruby_hash({"state": "STARTED", "instances": 3, "x": None}) == '{"state"=>"STARTED", "instances"=>3, "x"=>nil}'
    assert masked_url("git://h/bp") == "git://h/bp" and masked_url(None) is None
