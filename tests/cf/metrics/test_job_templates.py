"""The router and cloud_controller jobs render the status settings their processes read."""

from __future__ import annotations

import json

from cf_platform.cloud_controller.config import parse_config as parse_cc
from cf_platform.component import parse_status_settings
from cf_platform.router.config import parse_config as parse_router

from bosh_py.release.render import render_instance_jobs
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
