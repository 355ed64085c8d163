"""Attack: an app reads what its DEA VM holds (issue 6, tenant isolation).

A real DEA process with a DEA VM's view (its rendered config, 0644 with the CF NATS
password, at /var/vcap/jobs/dea/config/dea.json; the agent's settings.json, 0600) stages
and runs apps pushed over real NATS. The apps do what an attacker's app would: the
issue's Procfile (``cat /var/vcap/jobs/dea/config/dea.json >&2``), read every job config
and the agent settings, list /, and report their uid and capabilities.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.cf.dea.conftest import (BLOBSTORE_SECRET, SETTINGS_SECRET, dea_net, fake_cc, nats_server,  # noqa: F401
                                   needs_root, vm_dea, watcher)
from tests.cf.dea.helpers import http_get, json_app, make_zip
from tests.cf.dea.test_dea import find

pytestmark = [needs_root, pytest.mark.timeout(300)]

PROBE_APP = json_app('''
import glob, json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as error:
        return "ERROR " + type(error).__name__

def probe():
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    paths = ["/var/vcap/jobs/dea/config/dea.json", "/var/vcap/bosh/settings.json"]
    paths += glob.glob("/var/vcap/jobs/*/config/*") + glob.glob("/var/vcap/data/dea/*")
    return {"uid": os.getuid(), "gid": os.getgid(), "cap_eff": status["CapEff"].strip(),
            "cap_prm": status["CapPrm"].strip(), "cap_bnd": status["CapBnd"].strip(),
            "no_new_privs": status["NoNewPrivs"].strip(), "root": sorted(os.listdir("/")),
            "var_vcap": os.path.exists("/var/vcap"), "reads": {p: read(p) for p in paths},
            "mounts": read("/proc/self/mounts")}

''', '''probe()''')
STACK = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "tmp", "var", "home"}


def push(watcher, dea, fake_cc, files: dict[str, str]) -> tuple[str, dict]:
    """Stage over NATS and start one instance; (guid, router.register message)."""
    guid = uuid.uuid4().hex
    fake_cc.bits[guid] = make_zip(files)
    staged = watcher.request(f"staging.{dea.id}.start", {
        "app_id": guid, "name": f"attacker-{guid[:6]}", "bits_uri": fake_cc.url(guid, "bits"),
        "droplet_upload_uri": fake_cc.url(guid, "droplet"), "buildpack": None, "limits": {"mem": 128}}, 60)
    assert "error" not in staged, staged
    since = time.monotonic()
    watcher.publish(f"dea.{dea.id}.start", {
        "droplet": guid, "name": f"attacker-{guid[:6]}", "uris": [f"{guid[:8]}.test"], "version": "v1",
        "index": 0, "sha1": staged["droplet_sha1"], "droplet_uri": fake_cc.url(guid, "droplet"),
        "limits": {"mem": 128, "disk": 256, "fds": 1000}, "env": [], "services": [],
        "start_command": staged["start_command"]})
    return guid, watcher.wait_for("router.register", lambda m: m["app"] == guid, since=since, timeout=30)


def test_the_issues_procfile_shows_no_nats_credentials(watcher, vm_dea, fake_cc):
    password = vm_dea.config["nats"]["password"]
    guid, _registered = push(watcher, vm_dea, fake_cc, {
        "app.py": PROBE_APP, "Procfile": "web: cat /var/vcap/jobs/dea/config/dea.json >&2; python3 app.py\n"})
    [reply] = find(watcher, guid, include_logs=True)
    stderr = reply["logs"]["stderr"]
    assert "/var/vcap/jobs/dea/config/dea.json" in stderr   # the cat ran, and failed
    assert password not in stderr and password not in reply["logs"]["stdout"]


def test_an_app_sees_only_the_stack_as_an_unprivileged_user(watcher, vm_dea, fake_cc):
    guid, registered = push(watcher, vm_dea, fake_cc, {"app.py": PROBE_APP})
    port = registered["port"]
    body = http_get(f"http://{vm_dea.config['ip']}:{port}/")
    seen = json.loads(body)
    for secret in (vm_dea.config["nats"]["password"], SETTINGS_SECRET, BLOBSTORE_SECRET, "router-secret"):
        assert secret not in body
    assert seen["uid"] == vm_dea.config["container_uid_base"] + port - vm_dea.config["port_range_start"] != 0
    assert (seen["cap_eff"], seen["cap_prm"], seen["cap_bnd"]) == ("0" * 16,) * 3
    assert seen["no_new_privs"] == "1"
    assert set(seen["root"]) <= STACK, seen["root"]          # no /work, /root, /srv, /opt, ...
    assert seen["var_vcap"] is False
    assert all(value.startswith("ERROR") for value in seen["reads"].values()), seen["reads"]
    mounted = {line.split()[1] for line in seen["mounts"].splitlines()}
    assert "/home/vcap/app" in mounted and not any(m.startswith("/var/vcap") for m in mounted)
    watcher.publish("dea.stop", {"droplet": guid})
