"""The router job of releases/router: its templates render a configuration the router accepts,
from the nats link or from properties, and its monit file starts the control plane."""

from __future__ import annotations

import json

import yaml

from bosh_py.release import JobForRender, link_from_provider, read_release_dir, render_instance_jobs
from cf_platform.router.config import parse_config

from .helpers import REPO

ROUTER = REPO / "releases" / "router"
NATS = REPO / "releases" / "nats"


def _render(props: dict, links: dict | None = None) -> tuple[dict, dict]:
    job = _router_job()
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    spec = {"deployment": "cf", "name": "router", "id": "router-uuid-0", "index": 0, "az": "z1",
            "bootstrap": True, "networks": {"default": {"ip": "10.244.0.9", "default": ["dns", "gateway"]}}}
    rendered = render_instance_jobs(
        [JobForRender("router", job.spec, (job.directory / "monit").read_text(), templates, props)],
        spec, {"router": links or {}})
    files = rendered.files["router"]
    return json.loads(files["config/router.json"]), yaml.safe_load(files["monit"])


def _router_job():
    """Reading the release is part of what is tested: an error fails the test, never skips it."""
    return read_release_dir(ROUTER).jobs["router"]


def test_renders_from_the_nats_link():
    nats_job = read_release_dir(NATS).jobs["nats"]
    instances = [{"name": "nats", "id": f"n{i}", "index": i, "az": "z1", "address": f"10.244.0.{2 + i}",
                  "bootstrap": i == 0} for i in range(2)]
    link = link_from_provider(nats_job.spec, {"nats": {"user": "nats", "password": 'p"w\\d'}}, "nats",
                              instances, deployment="cf")
    raw, monit = _render({"router": {"status": {"user": "admin", "password": "st'at\"us"}}},
                         {"nats": link})
    config = parse_config(raw)
    assert config.nats.servers == ["nats://10.244.0.2:4222", "nats://10.244.0.3:4222"]
    assert (config.nats.user, config.nats.password) == ("nats", 'p"w\\d')
    assert (config.id, config.ip, config.port, config.status.port) == ("router-uuid-0", "10.244.0.9", 80, 8080)
    assert (config.status.user, config.status.password) == ("admin", "st'at\"us")
    assert config.greeting() == {"id": "router-uuid-0", "hosts": ["10.244.0.9"],
                                 "minimumRegisterIntervalInSeconds": 20, "pruneThresholdInSeconds": 120}
    assert config.nginx.binary == "/var/vcap/packages/nginx/bin/nginx"
    assert monit["processes"] == [{
        "name": "router", "executable": "/usr/bin/python3",
        "args": ["-m", "cf_platform.router", "--config", "/var/vcap/jobs/router/config/router.json"],
        "env": {"PYTHONPATH": "/var/vcap/packages/cf-platform/lib"}}]


def test_renders_from_properties_without_a_link():
    raw, _ = _render({"nats": {"machines": ["10.0.0.5"], "port": 4333, "user": "u", "password": "p"},
                      "router": {"port": 8081, "prune_threshold": 30, "worker_processes": "4",
                                 "access_log": False}})
    config = parse_config(raw)
    assert config.nats.servers == ["nats://10.0.0.5:4333"]
    assert (config.port, config.prune_threshold, config.nginx.worker_processes,
            config.nginx.access_log, config.status.user) == (8081, 30, "4", False, None)


def test_renders_drain_settings_and_bin_drain():
    raw, _ = _render({"nats": {"machines": ["10.0.0.5"]},
                      "router": {"drain_wait": 7, "drain_timeout": 45, "worker_shutdown_timeout": 50,
                                 "reload_debounce": 0.25}})
    config = parse_config(raw)
    assert (config.drain.wait, config.drain.timeout) == (7, 45)
    assert config.drain.state_file == "/var/vcap/sys/run/router/drain.state"
    assert config.pid_file == "/var/vcap/sys/run/router/router.pid"
    assert (config.nginx.worker_shutdown_timeout, config.nginx.reload_debounce) == (50, 0.25)
    defaults = parse_config(_render({"nats": {"machines": ["10.0.0.5"]}})[0])
    assert (defaults.drain.wait, defaults.drain.timeout, defaults.nginx.worker_shutdown_timeout) == (5, 60, 60)
    drain = _render_files({"nats": {"machines": ["10.0.0.5"]}})["bin/drain"]
    assert drain.startswith("#!/bin/bash\n")
    assert "-m cf_platform.router.drain_command" in drain
    assert "--config /var/vcap/jobs/router/config/router.json \"$@\"" in drain


def _render_files(props: dict) -> dict:
    job = _router_job()
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    spec = {"deployment": "cf", "name": "router", "id": "router-uuid-0", "index": 0, "az": "z1",
            "bootstrap": True, "networks": {"default": {"ip": "10.244.0.9", "default": ["dns", "gateway"]}}}
    return render_instance_jobs(
        [JobForRender("router", job.spec, (job.directory / "monit").read_text(), templates, props)],
        spec, {"router": {}}).files["router"]
