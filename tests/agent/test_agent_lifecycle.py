"""The agent end to end, through the director's AgentClient over a real nats-server:
apply, start (supervision, alerts), get_state, heartbeats, drain, scripts, logs, stop,
agent restart. Tests run in file order on one agent, like one VM's life."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request

import pytest

from bosh_py.mbus.errors import AgentError
from tests.agent.helpers import make_tgz, poll, read_tgz, with_client
from tests.harness import free_port

SERVE = """#!/bin/bash
echo "serving on $1"
exec /usr/bin/python3 -m http.server "$1" --bind 127.0.0.1 --directory "$(dirname "$0")/../www"
"""

DRAIN = """#!/bin/bash
echo "$@" >> {data}/drain.args
if [ -e {data}/drain.first ]; then echo 0; else touch {data}/drain.first; echo -1; fi
"""


@pytest.fixture(scope="module")
def release(agent, blobstore):
    """Blobs and an apply spec for a VM with jobs "web" (one process) and "helper" (no
    processes, only scripts)."""
    root = agent.root
    port = free_port()
    pkg_id, pkg_sha = blobstore.put_bytes(make_tgz({
        "bin/serve": SERVE, "www/index.html": "hello from pyserve\n"}))
    data = root / "var/vcap/data/web"
    monit = (f"processes:\n- name: web\n  executable: {root}/var/vcap/jobs/web/bin/web\n"
             f"  args: ['{port}']\n  env: {{GREETING: hi}}\n")
    jobs_id, jobs_sha = blobstore.put_bytes(make_tgz({
        "web/monit": monit,
        "web/bin/web": f"#!/bin/bash\nexec {root}/var/vcap/packages/pyserve/bin/serve \"$@\"\n",
        "web/bin/pre-start": f"#!/bin/bash\necho pre-start ran; echo ran > {data}/pre-start.marker\n",
        "web/bin/drain": DRAIN.format(data=data),
        "web/bin/post-start": "#!/bin/bash\necho web post-start\n",
        "web/bin/flaky": "#!/bin/bash\nfor i in $(seq 1 30); do echo \"flaky line $i\"; done\nexit 2\n",
        "web/bin/slow": "#!/bin/bash\nsleep 60\n",
        "web/config/web.conf": f"port={port}\n",
        "helper/monit": "processes: []\n",
        "helper/bin/post-start": "#!/bin/bash\necho helper post-start\n",
    }))
    spec = {
        "deployment": "dep", "name": "web", "id": "inst-0001", "index": 0, "az": "z1",
        "bootstrap": True,
        "networks": {"default": {"ip": "127.0.0.1", "netmask": "255.0.0.0", "gateway": "127.0.0.1"}},
        "job": {"name": "web", "templates": [{"name": "web", "version": "w1"},
                                             {"name": "helper", "version": "h1"}]},
        "packages": {"pyserve": {"name": "pyserve", "version": "1.0", "sha1": pkg_sha,
                                 "blobstore_id": pkg_id}},
        "rendered_templates_archive": {"blobstore_id": jobs_id, "sha1": jobs_sha},
        "configuration_hash": "cfg1", "persistent_disk": 0,
    }
    return {"spec": spec, "port": port}


def call(agent, fn, timeout=30.0):
    return with_client(agent.nats, agent.agent_id, fn, timeout)


def test_ping_and_wait_until_ready(agent):
    async def go(client, nc):
        t = time.monotonic()
        await client.wait_until_ready(timeout=20)
        ready = time.monotonic() - t
        assert await client.ping() == "pong"
        return ready
    assert call(agent, go) < 20


def test_unknown_method_and_bad_arguments(agent):
    async def go(client, nc):
        with pytest.raises(AgentError, match="unknown message frobnicate"):
            await client.call("frobnicate")
        with pytest.raises(AgentError, match="Wrong arguments for 'get_task'"):
            await client.call("get_task")
        with pytest.raises(AgentError, match="not found"):
            await client.call("get_task", "no-such-task")
    call(agent, go)


def test_apply_installs_packages_and_jobs(agent, release, blobstore):
    spec = release["spec"]
    vcap = agent.root / "var/vcap"

    async def go(client, nc):
        t = time.monotonic()
        assert await client.apply(spec) == "applied"
        return time.monotonic() - t
    print(f"first apply {call(agent, go):.2f}s")
    pkg = vcap / "packages/pyserve"
    assert pkg.is_symlink() and os.readlink(pkg) == "../data/packages/pyserve/1.0"
    assert (pkg / "www/index.html").read_text() == "hello from pyserve\n"
    web = vcap / "jobs/web"
    assert web.is_symlink() and os.readlink(web).startswith("../data/jobs/web/")
    assert os.access(web / "bin/web", os.X_OK)
    assert (vcap / "jobs/helper/bin/post-start").exists()
    for d in ("sys/log/web", "sys/run/web", "data/web", "sys/log/helper"):
        assert (vcap / d).is_dir(), d
    assert json.loads((vcap / "bosh/spec.json").read_text())["id"] == "inst-0001"
    assert oct((vcap / "bosh/spec.json").stat().st_mode & 0o777) == "0o600"
    # rendered jobs hold the deployment's properties: owner-only, from the links down
    for private in (vcap / "jobs", vcap / "data/jobs"):
        assert oct(private.stat().st_mode & 0o777) == "0o700", private
    loose = [str(p) for p in (vcap / "data/jobs").rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert loose == []

    # A re-apply of the same spec downloads nothing.
    gets = blobstore.requests["GET"]
    again = call(agent, go)
    print(f"re-apply {again:.2f}s")
    assert again < 3
    assert blobstore.requests["GET"] == gets


def test_apply_rejects_a_blob_with_the_wrong_digest(agent, release):
    spec = json.loads(json.dumps(release["spec"]))
    spec["packages"]["pyserve"]["version"] = "2.0"
    spec["packages"]["pyserve"]["sha1"] = "sha256:" + "0" * 64

    async def go(client, nc):
        with pytest.raises(AgentError, match="digest mismatch"):
            await client.apply(spec)
    call(agent, go)
    # nothing half-installed; the good version is still linked
    assert not (agent.root / "var/vcap/data/packages/pyserve/2.0").exists()
    assert os.readlink(agent.root / "var/vcap/packages/pyserve") == "../data/packages/pyserve/1.0"


def test_prepare_fetches_without_switching(agent, release, blobstore):
    spec = json.loads(json.dumps(release["spec"]))
    pkg_id, pkg_sha = blobstore.put_bytes(make_tgz({"bin/serve": SERVE, "www/index.html": "v3\n"}))
    spec["packages"]["pyserve"].update(version="3.0", blobstore_id=pkg_id, sha1=pkg_sha)

    async def go(client, nc):
        assert await client.prepare(spec) == "prepared"
    call(agent, go)
    vcap = agent.root / "var/vcap"
    assert (vcap / "data/packages/pyserve/3.0/www/index.html").read_text() == "v3\n"
    assert os.readlink(vcap / "packages/pyserve") == "../data/packages/pyserve/1.0"


def _pid(agent) -> int:
    return int((agent.root / "var/vcap/sys/run/web/web.pid").read_text())


def _http(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
        return r.read().decode()


def test_start_supervises_restarts_and_alerts(agent, release):
    port = release["port"]

    async def go(client, nc):
        alerts: asyncio.Queue = asyncio.Queue()

        async def on_alert(msg):
            await alerts.put(json.loads(msg.data))
        await nc.subscribe(f"hm.agent.alert.{agent.agent_id}", cb=on_alert)
        await nc.flush()

        t = time.monotonic()
        assert await client.start() == "started"
        state = await poll(client.get_state, lambda s: s["job_state"] == "running")
        started = time.monotonic() - t
        assert state["job_state"] == "running", state
        assert _http(port) == "hello from pyserve\n"
        assert (agent.root / "var/vcap/data/web/pre-start.marker").exists()

        first = _pid(agent)
        os.killpg(first, signal.SIGKILL)
        alert = await asyncio.wait_for(alerts.get(), 10)
        assert alert["title"] == "web (web) process exited"
        assert "signal 9" in alert["summary"] and alert["severity"] == 1
        assert set(alert) == {"id", "severity", "title", "summary", "created_at"}
        state = await client.get_state()
        assert state["job_state"] in ("failing", "running")
        t = time.monotonic()
        state = await poll(client.get_state, lambda s: s["job_state"] == "running", timeout=20)
        assert state["job_state"] == "running", state
        assert _pid(agent) != first
        assert _http(port) == "hello from pyserve\n"
        return started, time.monotonic() - t
    started, recovered = call(agent, go)
    print(f"start->running {started:.2f}s, crash->running {recovered:.2f}s")
    log_dir = agent.root / "var/vcap/sys/log/web"
    assert "serving on" in (log_dir / "web.stdout.log").read_text()
    assert "pre-start ran" in (log_dir / "pre-start.stdout.log").read_text()


def test_get_state_reports_processes_and_vitals(agent):
    async def go(client, nc):
        return await client.get_state()
    state = call(agent, go)
    assert state["agent_id"] == agent.agent_id
    assert (state["deployment"], state["index"], state["id"]) == ("dep", 0, "inst-0001")
    assert state["job"]["name"] == "web"
    assert state["vm"] == {"name": "vm-agent-1"}
    [proc] = state["processes"]
    assert proc["name"] == "web" and proc["state"] == "running"
    assert proc["uptime"]["secs"] >= 0 and proc["mem"]["kb"] > 1000
    assert "total" in proc["cpu"]
    v = state["vitals"]
    assert set(v["cpu"]) == {"user", "sys", "wait"}
    assert v["mem"]["kb"] > 0 and 0 < v["mem"]["percent"] <= 100
    assert len(v["load"]) == 3 and v["uptime"]["secs"] > 0
    assert "percent" in v["disk"]["system"] and "ephemeral" in v["disk"]
    assert "swap" in v


def test_heartbeats(agent):
    async def go(client, nc):
        beats: asyncio.Queue = asyncio.Queue()

        async def on_beat(msg):
            await beats.put(json.loads(msg.data))
        await nc.subscribe(f"hm.agent.heartbeat.{agent.agent_id}", cb=on_beat)
        return await asyncio.wait_for(beats.get(), 5)
    beat = call(agent, go)
    assert beat["deployment"] == "dep" and beat["job"] == "web" and beat["index"] == 0
    assert beat["node_id"] == "inst-0001" and beat["job_state"] == "running"
    assert beat["number_of_processes"] == 1 and "cpu" in beat["vitals"]


def test_drain_waits_and_calls_again_with_job_check_status(agent, release):
    new_spec = json.loads(json.dumps(release["spec"]))
    new_spec["configuration_hash"] = "cfg2"

    async def go(client, nc):
        t = time.monotonic()
        waited = await client.drain("update", new_spec)
        return waited, time.monotonic() - t
    waited, took = call(agent, go)
    assert waited == 1 and took >= 1
    args = (agent.root / "var/vcap/data/web/drain.args").read_text().splitlines()
    assert args == ["job_unchanged hash_changed", "job_check_status hash_unchanged"]


def test_run_script(agent):
    async def go(client, nc):
        assert await client.run_script("post-start") == {"executed": ["helper", "web"]}
        assert await client.run_script("no-such-script") == {"executed": []}
        with pytest.raises(AgentError) as e:
            await client.run_script("flaky")
        return str(e.value)
    message = call(agent, go)
    assert "'flaky' script failed for job(s) web" in message and "exit code 2" in message
    assert "flaky line 30" in message and "flaky line 5\n" not in message


def test_cancel_task(agent):
    async def go(client, nc):
        task = await client.call("run_script", "slow", {})
        assert task["state"] == "running"
        assert await client.call("cancel_task", task["agent_task_id"]) == "canceled"
        with pytest.raises(AgentError, match="canceled"):
            await client.run("get_task", task["agent_task_id"], poll_interval=0.1)
    call(agent, go)


def test_fetch_logs(agent, blobstore):
    async def go(client, nc):
        return await client.fetch_logs("job", None), await client.fetch_logs("agent", ["cur*"])
    jobs, agent_logs = call(agent, go)
    files = read_tgz(blobstore.read(jobs["blobstore_id"]))
    assert "web/web.stdout.log" in files and "web/pre-start.stdout.log" in files
    assert jobs["sha1"].startswith("sha256:")
    files = read_tgz(blobstore.read(agent_logs["blobstore_id"]))
    assert list(files) == ["current"] and b"request apply" in files["current"]
    # secrets of the settings never reach the log
    settings = json.loads(agent.settings_path.read_text())
    password = settings["mbus"].split(":")[2].split("@")[0]
    assert password.encode() not in files["current"]
    assert settings["blobstore"]["password"].encode() not in files["current"]


def test_agent_restart_keeps_jobs_running(agent):
    pid = _pid(agent)
    agent.stop()
    assert os.path.exists(f"/proc/{pid}")  # jobs outlive the agent, like under monit
    agent.start()

    async def go(client, nc):
        await client.wait_until_ready(20)
        return await poll(client.get_state, lambda s: s["job_state"] == "running")
    state = call(agent, go)
    assert state["job_state"] == "running"
    assert _pid(agent) == pid  # adopted, not restarted
    assert "adopted web/web" in agent.log_text()


def test_reboot_brings_jobs_back_without_the_director(agent, release):
    """A VM reboot: agent and jobs gone; the new agent starts the jobs on its own."""
    pid = _pid(agent)
    agent.stop()
    os.killpg(pid, signal.SIGKILL)
    agent.start()

    async def go(client, nc):
        await client.wait_until_ready(20)
        return await poll(client.get_state, lambda s: s["job_state"] == "running")
    assert call(agent, go)["job_state"] == "running"
    assert _pid(agent) != pid
    assert _http(release["port"]) == "hello from pyserve\n"


def test_stop(agent, release):
    pid = _pid(agent)

    async def go(client, nc):
        t = time.monotonic()
        assert await client.stop() == "stopped"
        took = time.monotonic() - t
        return await client.get_state(), took
    state, took = call(agent, go)
    assert state["job_state"] == "stopped" and state["processes"] == []
    assert took < 5
    print(f"stop {took:.2f}s")
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    with pytest.raises(OSError):
        _http(release["port"])
    assert json.loads((agent.root / "var/vcap/bosh/agent_state.json").read_text())["desired_job_state"] == "stopped"


def test_apply_removes_what_the_spec_no_longer_names(agent, release):
    spec = json.loads(json.dumps(release["spec"]))
    spec["packages"] = {}
    spec["job"]["templates"] = [{"name": "web", "version": "w1"}]

    async def go(client, nc):
        await client.apply(spec)
    call(agent, go)
    vcap = agent.root / "var/vcap"
    assert not (vcap / "packages/pyserve").exists() and not (vcap / "data/packages/pyserve").exists()
    # helper is still in the archive, so it stays installed (BOSH installs what it gets)
    assert (vcap / "jobs/web").is_symlink()


def test_update_settings(agent):
    async def go(client, nc):
        assert await client.update_settings({"heartbeat_interval": 2, "trusted_certs": "x"}) == "updated"
        with pytest.raises(AgentError, match="cannot change agent_id"):
            await client.update_settings({"agent_id": "other"})
    call(agent, go)
    settings = json.loads(agent.settings_path.read_text())
    assert settings["heartbeat_interval"] == 2 and settings["trusted_certs"] == "x"
    assert oct(agent.settings_path.stat().st_mode & 0o777) == "0o600"


def test_agent_reconnects_after_a_nats_restart(agent, nats_server):
    nats_server.stop()
    time.sleep(0.5)
    nats_server.start()  # same port, same users (users.json)

    async def go(client, nc):
        t = time.monotonic()
        await client.wait_until_ready(timeout=30)
        return time.monotonic() - t
    took = call(agent, go)
    print(f"agent answered {took:.2f}s after nats-server came back")
    assert "reconnected to NATS" in agent.log_text()
