"""The cloud_controller and health_manager jobs render, with bosh-py's renderer, into configs
their processes accept; the HM finds the CC through the cloud_controller link."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bosh_py.release.errors import RenderError
from bosh_py.release.render import JobForRender, link_from_provider, render_instance_jobs
from cf_platform.cloud_controller.config import parse_config as parse_cc
from cf_platform.health_manager.config import parse_config as parse_hm

REPO = Path(__file__).resolve().parents[3]
RELEASES = REPO / "releases"  # one release per component: releases/<job>/jobs/<job>
CC_PROPS = {"cc": {"domain": "bosh-py.local", "admin_password": "p'w\"<x>", "token_secret": "s3cret",
                   "internal_api": {"user": "internal", "password": "in\\ternal"}}}


def job(name: str, props: dict) -> JobForRender:
    d = RELEASES / name / "jobs" / name
    spec = yaml.safe_load((d / "spec").read_text())
    return JobForRender(name, spec, (d / "monit").read_text(),
                        {src: (d / "templates" / src).read_text() for src in spec["templates"]}, props)


def nats_link(user: str | None = "nats") -> dict:
    spec = yaml.safe_load((REPO / "releases" / "nats" / "jobs" / "nats" / "spec").read_text())
    props = {"nats": {"user": user, "password": "n@ts"}} if user else {}
    return link_from_provider(spec, props, "nats", [{"name": "nats", "id": "n0", "index": 0, "address": "10.244.0.2"},
                                                    {"name": "nats", "id": "n1", "index": 1, "address": "10.244.0.3"}])


def instance(name: str, ip: str) -> dict:
    return {"deployment": "cf", "name": name, "id": f"{name}-id", "index": 0,
            "networks": {"default": {"ip": ip}}}


def test_cloud_controller_renders_a_config_it_accepts():
    rendered = render_instance_jobs([job("cloud_controller", CC_PROPS)], instance("cloud_controller", "10.244.0.5"),
                                    {"cloud_controller": {"nats": nats_link()}})
    files = rendered.files["cloud_controller"]
    config = parse_cc(json.loads(files["config/cloud_controller.json"]))
    assert config.port == 9022 and config.domain == "bosh-py.local"
    assert config.users == {"admin": "p'w\"<x>"} and config.internal_password == "in\\ternal"
    assert config.external_host == "10.244.0.5"
    assert config.nats.servers == ["nats://10.244.0.2:4222", "nats://10.244.0.3:4222"]
    assert (config.nats.user, config.nats.password) == ("nats", "n@ts")
    assert str(config.data_dir) == "/var/vcap/store/cloud_controller"
    [process] = yaml.safe_load(files["monit"])["processes"]
    assert process["args"][:2] == ["-m", "cf_platform.cloud_controller"]
    assert process["env"]["PYTHONPATH"] == \
        "/var/vcap/packages/cf-platform/lib:/var/vcap/packages/python3-cryptography/usr/lib/python3/dist-packages"


def test_cloud_controller_without_nats_auth():
    rendered = render_instance_jobs([job("cloud_controller", CC_PROPS)], instance("cloud_controller", "10.244.0.5"),
                                    {"cloud_controller": {"nats": nats_link(user=None)}})
    config = parse_cc(json.loads(rendered.files["cloud_controller"]["config/cloud_controller.json"]))
    assert config.nats.user is None and config.nats.password is None


def test_cloud_controller_needs_its_secrets():
    with pytest.raises(RenderError) as e:
        render_instance_jobs([job("cloud_controller", {"cc": {"domain": "x"}})], instance("cc", "10.244.0.5"),
                             {"cloud_controller": {"nats": nats_link()}})
    assert "cc.admin_password" in str(e.value)


def test_health_manager_finds_the_cc_through_its_link():
    cc_spec = job("cloud_controller", CC_PROPS).spec
    cc_link = link_from_provider(cc_spec, CC_PROPS, "cloud_controller",
                                 [{"name": "cloud_controller", "id": "c0", "index": 0, "address": "10.244.0.5"}])
    rendered = render_instance_jobs([job("health_manager", {"hm": {"missing_after": 2}})],
                                    instance("health_manager", "10.244.0.6"),
                                    {"health_manager": {"nats": nats_link(), "cloud_controller": cc_link}})
    files = rendered.files["health_manager"]
    config = parse_hm(json.loads(files["config/health_manager.json"]))
    assert config.cc_url == "http://10.244.0.5:9022"
    assert (config.cc_user, config.cc_password) == ("internal", "in\\ternal")
    assert config.policy.grace == 20 and config.policy.immediate_restarts == 3
    assert config.nats_servers == ["nats://10.244.0.2:4222", "nats://10.244.0.3:4222"]
    [process] = yaml.safe_load(files["monit"])["processes"]
    assert process["args"][:2] == ["-m", "cf_platform.health_manager"]
