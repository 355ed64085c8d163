"""The agent zipapp runs on the system python3 alone (no venv, no site-packages)."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

from bosh_py.agent.bundle import build_agent_bundle
from tests.agent.helpers import AgentProcess, make_tgz, poll, with_client

SYSTEM_PYTHON = Path("/usr/bin/python3")


def test_bundle_is_cached_and_deterministic(tmp_path):
    t = time.monotonic()
    first = build_agent_bundle(tmp_path / "a" / "agent.pyz")
    built = time.monotonic() - t
    mtime = first.stat().st_mtime_ns
    t = time.monotonic()
    again = build_agent_bundle(tmp_path / "a" / "agent.pyz")
    cached = time.monotonic() - t
    assert again == first and first.stat().st_mtime_ns == mtime
    (tmp_path / "b").mkdir()
    other = build_agent_bundle(tmp_path / "b")  # a directory gets agent.pyz inside
    assert other.name == "agent.pyz" and other.read_bytes() == first.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert "__main__.py" in names and "nats/aio/client.py" in names and "yaml/__init__.py" in names
    assert "bosh_py/agent/bundle.py" not in names and not any(n.endswith(".so") for n in names)
    print(f"bundle: built {built * 1000:.0f} ms, cached {cached * 1000:.0f} ms, "
          f"{first.stat().st_size // 1024} KiB")


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no system python3")
def test_bundle_runs_on_the_system_python(tmp_path, nats_server, blobstore):
    bundle = build_agent_bundle(tmp_path / "agent.pyz")
    root = tmp_path / "root"
    root.mkdir()
    agent = AgentProcess(root, "bundled", nats_server, blobstore,
                         command=[str(SYSTEM_PYTHON), "-I", "-S", str(bundle)])
    jobs_id, jobs_sha = blobstore.put_bytes(make_tgz({
        "ticker/monit": ("processes:\n- name: tick\n  executable: /bin/bash\n"
                         "  args: ['-c', 'while true; do echo tick; sleep 0.2; done']\n"),
    }))
    spec = {"deployment": "d", "name": "ticker", "id": "i-1", "index": 0,
            "job": {"name": "ticker", "templates": [{"name": "ticker", "version": "1"}]},
            "packages": {}, "rendered_templates_archive": {"blobstore_id": jobs_id, "sha1": jobs_sha}}
    agent.start()
    try:
        async def go(client, nc):
            t = time.monotonic()
            await client.wait_until_ready(timeout=30)
            ready = time.monotonic() - t
            await client.apply(spec)
            await client.start()
            state = await poll(client.get_state, lambda s: s["job_state"] == "running")
            await client.stop()
            return ready, state
        ready, state = with_client(nats_server, "bundled", go)
        print(f"bundled agent answered ping {ready:.2f}s after launch")
        assert state["job_state"] == "running" and state["processes"][0]["name"] == "tick"
        assert os.readlink(f"/proc/{agent.proc.pid}/exe") == str(SYSTEM_PYTHON.resolve())
        assert "tick" in (root / "var/vcap/sys/log/ticker/tick.stdout.log").read_text()
    finally:
        agent.stop()
        agent.kill_jobs()
