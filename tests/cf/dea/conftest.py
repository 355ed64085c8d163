"""Fixtures for the DEA's tests: a real nats-server, a fake cloud controller, and the DEA as
a real process (root: namespaces and cgroups under a test-named parent). Every finalizer
checks that nothing is left: no process, no cgroup directory, no mount."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest

from bosh_py.mbus.server import NatsServer

from tests.harness import free_port

from .helpers import (BUILDPACKS, DeaProcess, FakeCloudController, NatsWatcher, cgroup_dirs, descendants,
                      free_port_range, pid_alive)

WATCHED = ["router.register", "router.unregister", "droplet.exited", "dea.heartbeat", "dea.advertise"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, cgroups)")


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats"), "127.0.0.1", free_port(),
                        director_password=secrets.token_urlsafe(16))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def watcher(nats_server):
    client = NatsWatcher(nats_server.director_connect_options(), WATCHED)
    yield client
    client.close()


@pytest.fixture(scope="module")
def fake_cc():
    cc = FakeCloudController().start()
    yield cc
    cc.stop()


def dea_config(base: Path, nats_server: NatsServer, **overrides) -> dict:
    port_start = free_port_range(20)
    config = {
        "id": f"0-{secrets.token_hex(8)}", "ip": "127.0.0.1",
        "nats": {"servers": [nats_server.url()], "user": nats_server.director_user,
                 "password": nats_server.director_password},
        "base_dir": str(base / "data"), "buildpacks_dir": str(BUILDPACKS),
        "memory_mb": 1024, "disk_mb": 8192, "port_range_start": port_start, "port_range_end": port_start + 19,
        "heartbeat_interval": 1, "advertise_interval": 1, "router_register_interval": 2,
        "health_check_timeout": 5, "stop_timeout": 3, "crash_lifetime": 60,
        "cgroup_parent": f"dea-test-{secrets.token_hex(4)}", "container_uid_base": 41000,
        "require_cgroups": True, "log_level": "debug"}
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def dea(tmp_path_factory, nats_server, watcher):
    """One DEA process for the module (short timers, 10 s health check)."""
    if os.geteuid() != 0:
        pytest.skip("containers need root (namespaces, cgroups)")
    base = tmp_path_factory.mktemp("dea")
    yield from _run_dea(base, dea_config(base, nats_server), watcher)


def _run_dea(base: Path, config: dict, watcher: NatsWatcher, leaves_cgroups: bool = False):
    """Run a DEA; afterwards check no process, cgroup or mount of it is left (cgroups are
    not checked, nor removed, when the test kills the DEA on purpose: ``leaves_cgroups``)."""
    path = base / "dea.json"
    path.write_text(json.dumps(config))
    started = time.monotonic()
    process = DeaProcess(path, config, base / "dea.log").start()
    try:
        watcher.wait_for("dea.advertise", lambda m: m["id"] == config["id"], timeout=20, since=started)
        yield process
    finally:
        children = descendants(process.process.pid) if process.process else []
        process.stop()
        leftovers = [pid for pid in children if pid_alive(pid)]
        groups = [] if leaves_cgroups else cgroup_dirs(config["cgroup_parent"])
        for group in sorted(groups, key=lambda p: len(p.parts), reverse=True):  # clean up, then complain
            try:
                group.rmdir()
            except OSError:
                pass
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if line.split()[4].startswith(str(base))]
        assert not leftovers, f"processes left behind: {leftovers}\n{process.log()[-3000:]}"
        assert not groups, f"cgroups left behind: {groups}"
        assert not mounts, f"mounts left behind: {mounts}"
