"""Fixtures for the DEA's tests: a real nats-server, a fake cloud controller, and the DEA as
a real process (root: namespaces and cgroups under a test-named parent) in a network
namespace of its own that stands in for the DEA's VM: the DEA's nft table and its
containers' veths live there, never in the host's namespace. NATS and the fake CC listen
on the host end of the veth pair to that namespace; apps are reached at the DEA's address.
Every finalizer checks that nothing is left: no process, no cgroup directory, no mount, no
container veth."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest

from bosh_py.mbus.server import NatsServer

from tests.harness import free_port

from .helpers import (BUILDPACKS, DeaNetns, DeaProcess, FakeCloudController, NatsWatcher, cgroup_dirs,
                      descendants, free_port_range, pid_alive)

WATCHED = ["router.register", "router.unregister", "droplet.exited", "dea.heartbeat", "dea.advertise"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, cgroups)")


@pytest.fixture(scope="module")
def dea_net():
    """The DEA's stand-in VM network: a namespace with a veth pair to the host."""
    if os.geteuid() != 0:
        pytest.skip("containers need root (namespaces, cgroups)")
    netns = DeaNetns().create()
    yield netns
    netns.destroy()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory, dea_net):
    server = NatsServer(tmp_path_factory.mktemp("nats"), dea_net.host_ip, free_port(dea_net.host_ip),
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
def fake_cc(dea_net):
    cc = FakeCloudController(host=dea_net.host_ip).start()
    yield cc
    cc.stop()


def dea_config(base: Path, nats_server: NatsServer, dea_net: DeaNetns, **overrides) -> dict:
    port_start = free_port_range(20)
    config = {
        "id": f"0-{secrets.token_hex(8)}", "ip": dea_net.dea_ip,
        "nats": {"servers": [nats_server.url()], "user": nats_server.director_user,
                 "password": nats_server.director_password},
        "base_dir": str(base / "data"), "buildpacks_dir": str(BUILDPACKS),
        "memory_mb": 1024, "disk_mb": 8192, "port_range_start": port_start, "port_range_end": port_start + 19,
        "heartbeat_interval": 1, "advertise_interval": 1, "router_register_interval": 2,
        "health_check_timeout": 5, "stop_timeout": 3, "unregister_grace": 1, "crash_lifetime": 60,
        "cgroup_parent": f"dea-test-{secrets.token_hex(4)}", "container_uid_base": 41000,
        "require_cgroups": True, "log_level": "debug"}
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def dea(tmp_path_factory, nats_server, watcher, dea_net):
    """One DEA process for the module (short timers, 10 s health check)."""
    base = tmp_path_factory.mktemp("dea")
    yield from _run_dea(base, dea_config(base, nats_server, dea_net), watcher, dea_net)


def _run_dea(base: Path, config: dict, watcher: NatsWatcher, dea_net: DeaNetns, leaves_cgroups: bool = False,
             vm_files: dict[str, tuple[bytes, int]] | None = None):
    """Run a DEA in ``dea_net``; afterwards check no process, cgroup, mount, container veth
    or nft table of it is left (cgroups, veths and the table are not checked, nor removed,
    when the test kills the DEA on purpose: ``leaves_cgroups``). ``vm_files``: see
    ``DeaProcess``."""
    path = base / "dea.json"
    path.write_text(json.dumps(config))
    started = time.monotonic()
    process = DeaProcess(path, config, base / "dea.log", dea_net, vm_files=vm_files).start()
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
        links = [] if leaves_cgroups else [name for name in dea_net.links() if name.startswith("deac")]
        table = "" if leaves_cgroups else dea_net.run("nft", "list", "tables").stdout
        assert not leftovers, f"processes left behind: {leftovers}\n{process.log()[-3000:]}"
        assert not groups, f"cgroups left behind: {groups}"
        assert not mounts, f"mounts left behind: {mounts}"
        assert not links, f"container veths left behind: {links}"
        assert "bosh_py_dea" not in table, f"nft table left behind: {table}"


SETTINGS_SECRET = "agent-secret-" + secrets.token_hex(8)
BLOBSTORE_SECRET = "blobstore-secret-" + secrets.token_hex(8)
VM_SETTINGS = json.dumps({"agent_id": "dea-vm", "mbus": f"nats://agent-dea-vm:{SETTINGS_SECRET}@10.244.0.1:4222",
                          "blobstore": {"url": "http://10.244.0.1:25250", "user": "agent",
                                        "password": BLOBSTORE_SECRET}}).encode()


@pytest.fixture(scope="module")
def vm_dea(tmp_path_factory, nats_server, watcher, dea_net):
    """A DEA that sees what a DEA VM has: its rendered config at
    /var/vcap/jobs/dea/config/dea.json (0644, with the CF NATS password) and the agent's
    /var/vcap/bosh/settings.json (0600, with ``SETTINGS_SECRET`` and ``BLOBSTORE_SECRET``)."""
    base = tmp_path_factory.mktemp("vmdea")
    files = {"/var/vcap/bosh/settings.json": (VM_SETTINGS, 0o600),
             "/var/vcap/jobs/router/config/router.json": (b'{"status": {"password": "router-secret"}}', 0o644)}
    yield from _run_dea(base, dea_config(base, nats_server, dea_net), watcher, dea_net, vm_files=files)
