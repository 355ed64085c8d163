"""Small pure parts: the discover delay, registry filters, app environment, config,
transfer URLs, archive safety, log tails."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from cf_platform.dea import app_env, archive, discover, logs, protocol, transfer
from cf_platform.dea.config import ConfigError, DeaConfig
from cf_platform.dea.instance import Instance, Limits, State
from cf_platform.dea.registry import InstanceRegistry

from .helpers import make_zip


def instance(**overrides) -> Instance:
    message = {"droplet": "app-1", "name": "web", "uris": ["web.example.com"], "version": "v1", "index": 0,
               "sha1": "abc", "droplet_uri": "http://x", "limits": {"mem": 128, "disk": 256, "fds": 1000},
               "env": ["GREETING=hi", "PORT=1"], "start_command": "python3 app.py", "services": []}
    message.update(overrides)
    return Instance.from_start_message(message)


@pytest.mark.parametrize("count, reserved, maximum, expected", [
    (0, 0, 1024, 0.0), (1, 0, 1024, 0.010), (2, 512, 1024, 0.070), (3, 1024, 1024, 0.130), (30, 0, 1024, 0.25),
])
def test_discover_delay(count, reserved, maximum, expected):
    assert discover.delay_seconds(count, reserved, maximum) == pytest.approx(expected)


def test_has_room():
    assert discover.has_room(256, 1024, 256, 2048)
    assert not discover.has_room(257, 1024, 256, 2048)
    assert not discover.has_room(1, 4096, 256, 2048)


def test_registry_filters_and_accounting():
    registry = InstanceRegistry()
    a, b, c = instance(index=0), instance(index=1, version="v2"), instance(droplet="other", index=0)
    for i in (a, b, c):
        registry.add(i)
    c.set_state(State.CRASHED)
    assert registry.matching({"droplet": "app-1"}) == [a, b]
    assert registry.matching({"droplet": "app-1", "version": "v2"}) == [b]
    assert registry.matching({"droplet": "app-1", "indices": [0]}) == [a]
    assert registry.matching({"droplet": "app-1", "instances": [b.instance_id]}) == [b]
    assert registry.matching({"droplet": "other", "states": ["RUNNING"]}) == []
    assert registry.matching({"droplet": "other", "states": ["CRASHED"]}) == [c]
    assert registry.reserved_memory_mb() == 256 and registry.app_id_to_count() == {"app-1": 2}


def test_start_message_parsing():
    i = instance(env={"A": "1"}, limits=None, index="2")
    assert i.env == ["A=1"] and i.limits == Limits() and i.index == 2 and i.state == State.BORN
    with pytest.raises(ValueError):
        Instance.from_start_message({"name": "no droplet"})


def test_app_environment():
    i = instance(services=[{"label": "redis", "name": "cache", "credentials": {"port": 6379}}])
    env = app_env.build(i, 61005, "10.0.0.5")
    assert env["PORT"] == env["VCAP_APP_PORT"] == "61005"  # the platform's PORT wins over the app's env
    assert env["VCAP_APP_HOST"] == "0.0.0.0" and env["GREETING"] == "hi" and env["HOME"] == "/home/vcap/app"
    vcap = json.loads(env["VCAP_APPLICATION"])
    assert {k: vcap[k] for k in ("instance_id", "instance_index", "application_id", "application_name",
                                 "application_uris", "host", "port")} == {
        "instance_id": i.instance_id, "instance_index": 0, "application_id": "app-1",
        "application_name": "web", "application_uris": ["web.example.com"], "host": "0.0.0.0", "port": 61005}
    assert vcap["limits"] == {"mem": 128, "disk": 256, "fds": 1000}
    assert json.loads(env["VCAP_SERVICES"]) == {"redis": [{"label": "redis", "name": "cache",
                                                           "credentials": {"port": 6379}}]}
    assert app_env.build(instance(), 1, "x")["VCAP_SERVICES"] == "{}"


def test_protocol_shapes():
    i = instance()
    i.port = 61001
    assert set(protocol.route(i, "10.0.0.5", "dea-1")) == {"host", "port", "uris", "app", "private_instance_id",
                                                           "private_instance_index", "tags"}
    i.exit_status, i.exit_description = 137, "out of memory"
    exited = protocol.exited(i, "CRASHED")
    assert set(exited) == {"droplet", "version", "instance", "index", "reason", "exit_status",
                           "exit_description", "crash_timestamp"}
    assert protocol.heartbeat("d", [i], 2.0) == {"dea": "d", "interval": 2.0, "droplets": [{
        "droplet": "app-1", "version": "v1", "instance": i.instance_id, "index": 0, "state": "BORN",
        "state_timestamp": i.state_timestamp}]}
    reply = protocol.find_reply(i, "d", "10.0.0.5", protocol.stats(i, {"mem": 1, "cpu": 0.0, "disk": 2}))
    assert reply["stats"]["mem_quota"] == 128 * 1024 * 1024 and reply["stats"]["usage"]["mem"] == 1


def test_config(tmp_path):
    base = {"ip": "10.0.0.5", "nats": {"servers": "nats://10.0.0.1:4222", "user": "u", "password": "p"}}
    config = DeaConfig.from_dict(base)
    assert config.nats.servers == ["nats://10.0.0.1:4222"] and config.id.startswith("0-")
    assert config.memory_mb == 2048 and config.heartbeat_interval == 2 and config.health_check_timeout == 60
    assert config.require_cgroups is True  # fail closed: no limits, no apps
    with pytest.raises(ConfigError, match="unknown keys bogus"):
        DeaConfig.from_dict({**base, "bogus": 1})
    with pytest.raises(ConfigError, match="ip"):
        DeaConfig.from_dict({"nats": base["nats"]})
    (tmp_path / "dea.json").write_text(json.dumps({**base, "base_dir": "/x", "stacks": ["s"]}))
    loaded = DeaConfig.load(tmp_path / "dea.json")
    assert loaded.base_dir == Path("/x") and loaded.stacks == ("s",)


def test_credentials_leave_the_url():
    url, headers = transfer.split_credentials("http://in%40ternal:p%3Ass@10.0.0.2:9022/internal/apps/x/bits")
    assert url == "http://10.0.0.2:9022/internal/apps/x/bits"
    import base64
    assert base64.b64decode(headers["Authorization"].split()[1]) == b"in@ternal:p:ss"
    assert transfer.redact("http://u:secret@h/x") == "http://u:***@h/x"


def test_unzip_keeps_modes_and_refuses_escapes(tmp_path):
    data = make_zip({"bin/run": "#!/bin/sh\n", "a/b.txt": "x"}, modes={"bin/run": 0o755})
    (tmp_path / "ok.zip").write_bytes(data)
    assert archive.unzip(tmp_path / "ok.zip", tmp_path / "out", 1 << 20) == 2
    assert os.stat(tmp_path / "out/bin/run").st_mode & 0o111
    for name in ("../x", "/etc/passwd", "a/../../x"):
        (tmp_path / "bad.zip").write_bytes(make_zip({name: "x"}))
        with pytest.raises(archive.UnsafeArchive):
            archive.unzip(tmp_path / "bad.zip", tmp_path / "bad", 1 << 20)
    (tmp_path / "big.zip").write_bytes(make_zip({"big": "x" * 5000}))
    with pytest.raises(archive.UnsafeArchive, match="larger"):
        archive.unzip(tmp_path / "big.zip", tmp_path / "big", 1000)


def _tar(tmp_path: Path, entries: list[tarfile.TarInfo]) -> Path:
    path = tmp_path / "t.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for info in entries:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def test_untar_refuses_links_out_and_devices(tmp_path):
    link = tarfile.TarInfo("app/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    with pytest.raises(archive.UnsafeArchive, match="points outside"):
        archive.untar(_tar(tmp_path, [link]), tmp_path / "o1", 1 << 20, only="app")
    via = tarfile.TarInfo("app/inner")
    via.type, via.linkname = tarfile.SYMTYPE, "."
    through = tarfile.TarInfo("app/inner/f")
    through.size = 1
    archive.untar(_tar(tmp_path, [via]), tmp_path / "o2", 1 << 20, only="app")
    with pytest.raises(archive.UnsafeArchive, match="symlink"):
        archive.untar(_tar(tmp_path, [via, through]), tmp_path / "o3", 1 << 20, only="app")
    dev = tarfile.TarInfo("app/null")
    dev.type = tarfile.CHRTYPE
    with pytest.raises(archive.UnsafeArchive, match="unsupported"):
        archive.untar(_tar(tmp_path, [dev]), tmp_path / "o4", 1 << 20, only="app")


def test_droplet_round_trip(tmp_path):
    app = tmp_path / "app"
    (app / "sub").mkdir(parents=True)
    (app / "sub" / "f.py").write_text("print(1)")
    archive.pack_droplet(app, {"staging_info.yml": b'{"start_command": "x"}'}, tmp_path / "d.tgz")
    assert archive.untar(tmp_path / "d.tgz", tmp_path / "out", 1 << 20, only="app") == 2
    assert (tmp_path / "out/sub/f.py").read_text() == "print(1)"
    assert json.loads(archive.read_member(tmp_path / "d.tgz", "staging_info.yml")) == {"start_command": "x"}


def test_log_tail(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_text("".join(f"line {n}\n" for n in range(500)))
    assert logs.tail(path, 3) == "line 497\nline 498\nline 499\n"
    assert logs.tail(tmp_path / "missing", 3) == ""


def test_a_dea_without_usable_cgroups_refuses_to_start_by_default(tmp_path):
    """A cloud image booting cgroup v2 only (stock Debian 12) leaves the DEA no v1 hierarchy:
    it must refuse rather than run hostile apps without memory and pids limits."""
    from cf_platform.dea.agent import Dea as DeaAgent
    (tmp_path / "cgroup").mkdir()

    def config(name: str, **extra) -> DeaConfig:
        return DeaConfig.from_dict({"ip": "10.0.0.5", "base_dir": str(tmp_path / name),
                                    "cgroup_root": str(tmp_path / "cgroup"), **extra,
                                    "nats": {"servers": "nats://10.0.0.1:4222", "user": "u", "password": "p"}})

    # it refuses before making anything: no nftables table, no container manager
    # (the DEA's network setup must never run in the test host's own namespace)
    agent = DeaAgent(config("data"))
    with pytest.raises(RuntimeError, match="cgroups are required but unusable: .*memory"):
        agent.prepare_host()
    assert agent.manager is None
