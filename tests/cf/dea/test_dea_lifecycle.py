"""The DEA process's own life: a SIGTERM stops every instance (DEA_SHUTDOWN, routes
unregistered); a SIGKILLed DEA takes its containers with it (PDEATHSIG), and the next DEA
process removes what they left (cgroups, files) before serving."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from .conftest import _run_dea, dea_config, needs_root
from .helpers import HELLO_APP, cgroup_dirs, descendants, pid_alive, wait_until
from .test_dea import container_links, mapped_ports, stage, start

pytestmark = [needs_root, pytest.mark.timeout(300)]


def test_shutdown_stops_every_instance(tmp_path, nats_server, watcher, fake_cc, dea_net):
    runner = _run_dea(tmp_path, dea_config(tmp_path, nats_server, dea_net), watcher, dea_net)
    dea = next(runner)
    try:
        guid, staged = stage(watcher, dea, fake_cc, {"app.py": HELLO_APP})
        since = time.monotonic()
        for index in (0, 1):
            start(watcher, dea, fake_cc, guid, staged, index=index)
        for index in (0, 1):
            watcher.wait_for("router.register", lambda m: m["app"] == guid and m["private_instance_index"] == index,
                             since=since)
        assert dea.stop() == 0
        exits = [m for m in watcher.on("droplet.exited", since) if m["droplet"] == guid]
        assert sorted((m["index"], m["reason"]) for m in exits) == [(0, "DEA_SHUTDOWN"), (1, "DEA_SHUTDOWN")]
        assert len([m for m in watcher.on("router.unregister", since) if m["app"] == guid]) == 2
        assert not list((Path(dea.config["base_dir"]) / "instances").iterdir())
    finally:
        runner.close()  # the finalizer: no process, cgroup or mount left


def test_killed_dea_takes_its_containers_and_the_next_one_cleans_up(tmp_path, nats_server, watcher, fake_cc,
                                                                   dea_net):
    config = dea_config(tmp_path, nats_server, dea_net)
    first = _run_dea(tmp_path, config, watcher, dea_net, leaves_cgroups=True)
    dea = next(first)
    try:
        guid, staged = stage(watcher, dea, fake_cc, {"app.py": HELLO_APP})
        since = time.monotonic()
        start(watcher, dea, fake_cc, guid, staged)
        registered = watcher.wait_for("router.register", lambda m: m["app"] == guid, since=since)
        containers = descendants(dea.process.pid)
        assert containers
        dea.process.send_signal(signal.SIGKILL)
        dea.process.wait(10)
        wait_until(lambda: not any(pid_alive(p) for p in containers), 10, message="containers to die with the DEA")
        assert any(p.name == registered["private_instance_id"] for p in cgroup_dirs(config["cgroup_parent"]))
        instance_dir = Path(config["base_dir"]) / "instances" / registered["private_instance_id"]
        assert instance_dir.exists()
        assert registered["port"] in mapped_ports(dea)   # the dead DEA's mapping stays until the next one
    finally:
        first.close()  # checks that no process is left; the cgroups stay for the next DEA
    second = _run_dea(tmp_path, config, watcher, dea_net)
    try:
        new = next(second)  # serving: it removed the old instance's cgroups, files and port mappings first
        assert [p.name for p in cgroup_dirs(config["cgroup_parent"])] == [config["cgroup_parent"]] * 2
        assert not instance_dir.exists()
        assert mapped_ports(new) == set() and container_links(new) == []
    finally:
        second.close()
