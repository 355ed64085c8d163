"""The router, cloud_controller and health_manager jobs render the status settings their processes read."""

from __future__ import annotations

import json

from cf_platform.cloud_controller.config import parse_config as parse_cc
from cf_platform.component import parse_status_settings
from cf_platform.health_manager.config import parse_config as parse_hm
from cf_platform.router.config import parse_config as parse_router

from bosh_py.release.render import link_from_provider, render_instance_jobs
from tests.cf.cc.test_jobs import CC_PROPS, instance, job, nats_link


def _cc(props: dict) -> dict:
    rendered = render_instance_jobs([job("cloud_controller", props)], {**instance("cloud_controller", "10.244.0.5"),
                                                                       "index": 1},
                                    {"cloud_controller": {"nats": nats_link()}})
    return json.loads(rendered.files["cloud_controller"]["config/cloud_controller.json"])


def test_cloud_controller_serves_a_status_port_only_with_credentials():
    raw = _cc({"cc": {**CC_PROPS["cc"], "status": {"user": "cc-status", "password": 'st"at'}}})
    config = parse_cc(raw)
    status = parse_status_settings(config.extra["status"])
    assert (status.port, status.user, status.password) == (8081, "cc-status", 'st"at')
    assert config.extra["index"] == 1
    assert _cc(CC_PROPS)["status"] is None


def test_router_renders_its_index_and_request_metrics_switch():
    rendered = render_instance_jobs(
        [job("router", {"nats": {"machines": ["10.0.0.5"]}, "router": {"request_metrics": False}})],
        {**instance("router", "10.244.0.9"), "index": 2}, {"router": {}})
    config = parse_router(json.loads(rendered.files["router"]["config/router.json"]))
    assert config.index == 2 and config.nginx.request_metrics is False


def _hm(props: dict) -> dict:
    cc_link = link_from_provider(job("cloud_controller", CC_PROPS).spec, CC_PROPS, "cloud_controller",
                                 [{"name": "cloud_controller", "id": "c0", "index": 0, "address": "10.244.0.5"}])
    rendered = render_instance_jobs([job("health_manager", props)], {**instance("health_manager", "10.244.0.6"),
                                                                     "index": 1},
                                    {"health_manager": {"nats": nats_link(), "cloud_controller": cc_link}})
    return json.loads(rendered.files["health_manager"]["config/health_manager.json"])


def test_health_manager_serves_a_status_port_only_with_credentials():
    config = parse_hm(_hm({"hm": {"status": {"user": "hm-status", "password": 'st"at'}}}))
    assert config.status is not None
    assert (config.status.port, config.status.user, config.status.password) == (8082, "hm-status", 'st"at')
    assert (config.index, config.host) == (1, "10.244.0.6")
    assert parse_hm(_hm({})).status is None
