"""The dummy CPI executable through the director's own CpiClient: typed errors from the
wire, VMs that are real agent processes (on a real nats-server), disks that keep their
files from VM to VM, failure injection, bad config, and ``cleanup``."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest

from bosh_py.director import cpi_client
from bosh_py.director.cpi_client import (
    CpiClient,
    CpiError,
    DiskNotFound,
    VMCreationFailed,
    VMNotFound,
)
from bosh_py.mbus.server import NatsServer
from tests.agent.helpers import with_client
from tests.harness import BIN, free_port, wait_until

EXECUTABLE = str(BIN / "bosh-py-cpi-dummy")


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats", "127.0.0.1", free_port(), director_password=secrets.token_urlsafe(16))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dummy(tmp_path):
    """(config path, state dir); every VM it made is cleaned up at the end."""
    state = tmp_path / "state"
    config = tmp_path / "dummy.yml"
    config.write_text(f"state_dir: {state}\nagent_host_rewrite: 127.0.0.1\n")
    yield config, state
    subprocess.run([EXECUTABLE, "cleanup", str(config)], check=False, timeout=60)


def call(config: Path, method: str, *arguments):
    return asyncio.run(CpiClient(EXECUTABLE, str(config), "test-director", retries=0).call(method, *arguments))


def raw(config: Path, request: str) -> dict:
    out = subprocess.run([EXECUTABLE, str(config)], input=request, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0
    return json.loads(out.stdout)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_cpi_error_picks_the_class_by_wire_type():
    assert type(cpi_client.cpi_error("delete_vm", "VMNotFound", "gone")) is VMNotFound
    assert type(cpi_client.cpi_error("delete_vm", "Bosh::Clouds::VMNotFound", "gone")) is VMNotFound
    assert type(cpi_client.cpi_error("x", "NotImplemented", "no")) is cpi_client.NotImplemented
    assert type(cpi_client.cpi_error("x", "CloudError", "no")) is cpi_client.CloudError
    unknown = cpi_client.cpi_error("x", "SomethingElse", "no", ok_to_retry=True)
    assert type(unknown) is CpiError and unknown.type == "SomethingElse" and unknown.ok_to_retry
    error = cpi_client.cpi_error("delete_disk", "DiskNotFound", "disk d-1 not found")
    assert isinstance(error, CpiError) and error.method == "delete_disk" and error.type == "DiskNotFound"


def test_missing_things_are_typed_errors(dummy):
    config, _ = dummy
    with pytest.raises(VMNotFound):
        call(config, "delete_vm", "vm-nope")
    with pytest.raises(DiskNotFound):
        call(config, "delete_disk", "disk-nope")
    with pytest.raises(VMCreationFailed, match="stemcell sc-nope not found"):
        call(config, "create_vm", "agent-1", "sc-nope", {}, {}, [], {})
    with pytest.raises(cpi_client.NotImplemented):
        call(config, "resize_disk", "disk-1", 10)
    assert call(config, "has_vm", "vm-nope") is False


def test_vm_is_a_real_agent_answering_over_nats_and_delete_kills_it(dummy, nats_server, tmp_path):
    config, state = dummy
    image = tmp_path / "image"
    image.write_text("any image\n")
    stemcell = call(config, "create_stemcell", str(image), {})
    cid, networks, extra = call(config, "create_vm", "agent-7", stemcell, {}, {"default": {"ip": "10.0.0.5"}}, [], {})
    assert extra == {"agent_bootstrap": "cpi"} and networks == {"default": {"ip": "10.0.0.5"}}
    password = secrets.token_urlsafe(12)
    nats_server.add_agent("agent-7", password)
    mbus = nats_server.agent_url("agent-7", password, host="10.99.0.1")  # the bridge IP a VM would use
    call(config, "bootstrap_agent", cid, {"agent_id": "agent-7", "mbus": mbus, "blobstore": {}, "env": {}})
    settings = json.loads((state / "vms" / cid / "var/vcap/bosh/settings.json").read_text())
    assert "@127.0.0.1:" in settings["mbus"] and "10.99.0.1" not in settings["mbus"]
    assert (state / "vms" / cid / "var/vcap/bosh/settings.json").stat().st_mode & 0o777 == 0o600

    async def ping(client, nc):
        await client.wait_until_ready(timeout=30, ping_timeout=1.0)
        return await client.ping(timeout=5)
    assert with_client(nats_server, "agent-7", ping) == "pong"
    assert call(config, "has_vm", cid) is True
    pid = json.loads((state / "state.json").read_text())["vms"][cid]["pid"]
    assert _alive(pid)

    call(config, "delete_vm", cid)
    assert not _alive(pid) and not (state / "vms" / cid).exists()
    assert call(config, "has_vm", cid) is False
    with pytest.raises(VMNotFound):
        call(config, "delete_vm", cid)


def test_has_vm_is_false_once_the_agent_process_is_gone(dummy, nats_server, tmp_path):
    config, state = dummy
    (tmp_path / "image").write_text("x")
    stemcell = call(config, "create_stemcell", str(tmp_path / "image"), {})
    cid = call(config, "create_vm", "agent-8", stemcell, {}, {}, [], {})[0]
    nats_server.add_agent("agent-8", "pw-agent-8")
    call(config, "bootstrap_agent", cid, {"agent_id": "agent-8", "mbus": nats_server.agent_url("agent-8", "pw-agent-8")})
    pid = json.loads((state / "state.json").read_text())["vms"][cid]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), message="agent to die")
    assert call(config, "has_vm", cid) is False


def test_disk_keeps_its_files_from_one_vm_to_the_next(dummy, tmp_path):
    config, state = dummy
    (tmp_path / "image").write_text("x")
    stemcell = call(config, "create_stemcell", str(tmp_path / "image"), {})
    first = call(config, "create_vm", "agent-a", stemcell, {}, {}, [], {})[0]
    second = call(config, "create_vm", "agent-b", stemcell, {}, {}, [], {})[0]
    disk = call(config, "create_disk", 64, {}, first)
    hint = call(config, "attach_disk", first, disk)
    assert hint == f"/var/vcap/bosh/disks/{disk}"
    assert call(config, "get_disks", first) == [disk]
    (state / "vms" / first / hint.lstrip("/") / "data.txt").write_text("kept\n")
    with pytest.raises(CpiError, match="attached to VM"):
        call(config, "attach_disk", second, disk)
    call(config, "detach_disk", first, disk)
    with pytest.raises(cpi_client.DiskNotAttached):
        call(config, "detach_disk", first, disk)
    call(config, "attach_disk", second, disk)
    assert (state / "vms" / second / hint.lstrip("/") / "data.txt").read_text() == "kept\n"
    call(config, "delete_vm", second)  # a deleted VM's disk goes back to the pool
    assert call(config, "has_disk", disk) is True
    assert (state / "disks" / disk / "data.txt").read_text() == "kept\n"
    call(config, "delete_disk", disk)
    assert call(config, "has_disk", disk) is False


def test_injected_failure_has_its_type_and_counts_down(dummy):
    config, state = dummy
    state.mkdir()
    (state / "failures.json").write_text(json.dumps({"has_vm": {"type": "CloudError", "message": "api down",
                                                                "times": 2, "ok_to_retry": True}}))
    for _ in range(2):
        with pytest.raises(cpi_client.CloudError, match="api down") as failed:
            call(config, "has_vm", "vm-x")
        assert failed.value.ok_to_retry is True
    assert call(config, "has_vm", "vm-x") is False
    (state / "failures.json").write_text(json.dumps({"info": {"type": "NoSuchType"}}))
    with pytest.raises(cpi_client.InvalidCall, match="unknown error type 'NoSuchType'"):
        call(config, "info")


def test_bad_config_is_an_invalid_call_naming_the_key(tmp_path):
    config = tmp_path / "bad.yml"
    config.write_text("state_dir: relative/dir\n")
    answer = raw(config, '{"method": "info", "arguments": []}')
    assert answer["error"]["type"] == "InvalidCall"
    assert "state_dir must be an absolute path" in answer["error"]["message"] and str(config) in answer["error"]["message"]
    config.write_text(f"state_dir: {tmp_path}/s\nstate_dri: typo\n")
    assert "unknown key(s) state_dri" in raw(config, '{"method": "info", "arguments": []}')["error"]["message"]


def test_cleanup_kills_every_vm_process(dummy, nats_server, tmp_path):
    config, state = dummy
    (tmp_path / "image").write_text("x")
    stemcell = call(config, "create_stemcell", str(tmp_path / "image"), {})
    pids = []
    for n in range(2):
        cid = call(config, "create_vm", f"agent-c{n}", stemcell, {}, {}, [], {})[0]
        nats_server.add_agent(f"agent-c{n}", f"pw-{n}")
        call(config, "bootstrap_agent", cid, {"agent_id": f"agent-c{n}", "mbus": nats_server.agent_url(f"agent-c{n}", f"pw-{n}")})
        pids.append(json.loads((state / "state.json").read_text())["vms"][cid]["pid"])
    # a process the agent did not start but that works in the VM dir (as job processes do)
    stray = subprocess.Popen(["sleep", "300"], cwd=state / "vms" / cid, start_new_session=True)
    try:
        out = subprocess.run([EXECUTABLE, "cleanup", str(config)], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert stray.wait(10) is not None
        assert not any(_alive(pid) for pid in pids)
        assert list((state / "vms").iterdir()) == []
        listed = json.loads(subprocess.run([EXECUTABLE, "list", str(config)], capture_output=True, text=True, check=False).stdout)
        assert listed["vms"] == {}
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
