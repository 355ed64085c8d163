"""A DEA that is shutting down (SIGTERM, stopping its instances) takes nothing new: the health
manager replaces the instances being stopped at once (DEA_SHUTDOWN), and a replacement
placed on this very DEA would outlive it (a container, a cgroup left behind). Real DEA
process, real containers (root)."""

from __future__ import annotations

import signal
import time

import pytest

from .conftest import _run_dea, dea_config, needs_root
from .helpers import json_app
from .test_dea import stage, start

pytestmark = [needs_root, pytest.mark.timeout(300)]

STUBBORN_APP = json_app('''
import json, os, signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
signal.signal(signal.SIGTERM, signal.SIG_IGN)    # makes the DEA's stop wait stop_timeout

''', '''{"pid": os.getpid()}''')


@pytest.fixture
def own_dea(tmp_path, nats_server, watcher, dea_net):
    config = dea_config(tmp_path, nats_server, dea_net, stop_timeout=4)
    yield from _run_dea(tmp_path, config, watcher, dea_net)


def test_a_dea_shutting_down_answers_no_discover_and_starts_nothing(own_dea, watcher, fake_cc):
    dea = own_dea
    guid, staged = stage(watcher, dea, fake_cc, {"app.py": STUBBORN_APP})
    since = time.monotonic()
    # the shell running the start command must not die of the SIGTERM either
    start(watcher, dea, fake_cc, guid, staged, index=0, start_command=f"trap '' TERM; exec {staged['start_command']}")
    watcher.wait_for("router.register", lambda m: m["app"] == guid, timeout=30, since=since)

    assert dea.process is not None
    dea.process.send_signal(signal.SIGTERM)         # stop_all now waits up to 4 s on the app
    watcher.wait_for("router.unregister", lambda m: m["app"] == guid, timeout=10, since=since)
    answers = watcher.gather("dea.discover", {"droplet": guid, "name": "n", "runtime": "python", "sha1": None,
                                              "limits": {"mem": 64}}, 1.0)
    assert answers == []
    start(watcher, dea, fake_cc, guid, staged, index=1)
    assert dea.process.wait(30) == 0
    log = dea.log()
    assert "not starting" in log and "this DEA is shutting down" in log, log[-2000:]
    # nothing of index 1 ever ran: no route registered for it (and _run_dea checks no leftovers)
    assert not [m for m in watcher.on("router.register", since)
                if m["app"] == guid and m.get("private_instance_index") == 1]
