"""Attack: an app takes other apps' ports or reaches the DEA VM's services (issue 6).

Apps pushed over real NATS to a real DEA (in a network namespace standing in for its VM):
one binds every port of the DEA's range, so that every later start would fail or it
would receive another app's traffic; another tries to connect to the NATS server at the
VM's gateway (where the director's NATS and blobstore answer on a bosh-py VM), to a
service of the DEA VM itself, and to another app's container.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cf.dea.conftest import dea, dea_net, fake_cc, nats_server, needs_root, watcher  # noqa: F401
from tests.cf.dea.helpers import http_get, json_app, pid_alive
from tests.harness import free_port

from .test_dea_container_view import push

pytestmark = [needs_root, pytest.mark.timeout(300)]

SQUATTER_APP = json_app('''
import json, os, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

own = int(os.environ["PORT"])
held = []
for port in range(int(os.environ["SQUAT_FROM"]), int(os.environ["SQUAT_TO"]) + 1):
    if port == own:
        continue
    sock = socket.socket()
    try:
        sock.bind(("0.0.0.0", port))
        sock.listen(16)
        held.append(sock)
    except OSError:
        sock.close()

''', '''{"app": "squatter", "held": len(held)}''', port='own')

NAMED_APP = json_app('''
import json, os, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def connect(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return "connected"
    except OSError as error:
        return "ERROR " + type(error).__name__

def report():
    targets = [t for t in os.environ.get("PROBE", "").split(",") if t]
    targets.append("127.0.0.1:" + os.environ["PORT"])
    return {"app": os.environ["APP_NAME"], "connects": {t: connect(t) for t in targets}}

''', "report()")


def named(name: str, **env: str) -> dict[str, str]:
    lines = "".join(f"os.environ[{k!r}] = {v!r}\n" for k, v in {"APP_NAME": name, **env}.items())
    return {"app.py": "import os\n" + lines + NAMED_APP}


def squatter(dea) -> dict[str, str]:
    lines = (f"import os\nos.environ['SQUAT_FROM'] = '{dea.config['port_range_start']}'\n"
             f"os.environ['SQUAT_TO'] = '{dea.config['port_range_end']}'\n")
    return {"app.py": lines + SQUATTER_APP}


def test_an_app_binding_every_port_takes_nothing_from_other_apps(watcher, dea, fake_cc):
    _guid, squatting = push(watcher, dea, fake_cc, squatter(dea))
    seen = json.loads(http_get(f"http://{dea.config['ip']}:{squatting['port']}/"))
    size = dea.config["port_range_end"] - dea.config["port_range_start"] + 1
    assert seen == {"app": "squatter", "held": size - 1}     # it did bind every other port
    _guid, registered = push(watcher, dea, fake_cc, named("victim"))
    assert registered["port"] != squatting["port"]
    answer = json.loads(http_get(f"http://{dea.config['ip']}:{registered['port']}/"))
    assert answer["app"] == "victim"                           # its traffic reaches it, not the squatter


def test_an_app_reaches_neither_the_vm_nor_the_gateway_nor_other_apps(watcher, dea, fake_cc, nats_server,
                                                                      dea_net):
    vm_port = free_port()
    vm_service = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{dea_net.name}", sys.executable, "-c",
         "import socket, sys, time\ns = socket.socket()\ns.bind((sys.argv[1], int(sys.argv[2])))\n"
         "s.listen(8)\ntime.sleep(600)\n", dea.config["ip"], str(vm_port)], stdin=subprocess.DEVNULL)
    try:
        _guid, other = push(watcher, dea, fake_cc, named("other"))
        gateway_nats = f"{nats_server.host}:{nats_server.port}"
        vm = f"{dea.config['ip']}:{vm_port}"
        other_app = f"{dea.config['ip']}:{other['port']}"
        _guid, registered = push(watcher, dea, fake_cc, named("prober", PROBE=f"{gateway_nats},{vm},{other_app}"))
        assert json.loads(http_get(f"http://{other_app}/"))["app"] == "other"   # reachable from outside
        seen = json.loads(http_get(f"http://{dea.config['ip']}:{registered['port']}/", timeout=30))
        connects = seen["connects"]
        assert connects.pop(f"127.0.0.1:{registered['port']}") == "connected"   # the probe works
        assert connects == {gateway_nats: "ERROR TimeoutError", vm: "ERROR TimeoutError",
                            other_app: "ERROR TimeoutError"}
    finally:
        vm_service.kill()
        vm_service.wait(10)
        assert not pid_alive(vm_service.pid)


def test_nothing_of_the_dea_lands_in_the_hosts_network_namespace(dea):
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in links.splitlines() if ": deac" in line]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "bosh_py_dea" not in tables
