"""The cloud_controller job renders ``cc.uaa.*`` into a config the CC accepts: with a UAA
URL the CC trusts that UAA; without one, the built-in issuer (no ``uaa`` section)."""

from __future__ import annotations

import json

import yaml
from cf_platform.cloud_controller.auth import (
    TokenIssuer,
    authenticator_for,
    parse_uaa_settings,
)
from cf_platform.cloud_controller.config import parse_config

from bosh_py.release.render import link_from_provider, render_instance_jobs
from tests.cf.cc.test_jobs import CC_PROPS, RELEASES, instance, job, nats_link


def _render(props: dict):
    rendered = render_instance_jobs([job("cloud_controller", props)], instance("cloud_controller", "10.244.0.5"),
                                    {"cloud_controller": {"nats": nats_link()}})
    return parse_config(json.loads(rendered.files["cloud_controller"]["config/cloud_controller.json"]))


def test_cc_uaa_url_renders_into_the_uaa_section():
    props = {"cc": {**CC_PROPS["cc"], "uaa": {"url": "http://10.244.0.21:8080"}}}
    settings = parse_uaa_settings(_render(props).extra.get("uaa"))
    assert settings is not None
    assert settings.url == "http://10.244.0.21:8080" and settings.refetch_interval == 30


def test_without_cc_uaa_url_the_built_in_issuer_stays():
    config = _render(CC_PROPS)
    assert parse_uaa_settings(config.extra.get("uaa")) is None
    assert isinstance(authenticator_for(config), TokenIssuer)


def test_the_uaa_link_names_the_uaa():
    uaa_spec = yaml.safe_load((RELEASES / "uaa" / "jobs" / "uaa" / "spec").read_text())
    uaa_link = link_from_provider(uaa_spec, {}, "uaa", [{"name": "uaa", "id": "u0", "index": 0,
                                                        "address": "10.244.0.21"}])
    rendered = render_instance_jobs([job("cloud_controller", CC_PROPS)], instance("cloud_controller", "10.244.0.5"),
                                    {"cloud_controller": {"nats": nats_link(), "uaa": uaa_link}})
    config = parse_config(json.loads(rendered.files["cloud_controller"]["config/cloud_controller.json"]))
    settings = parse_uaa_settings(config.extra.get("uaa"))
    assert settings is not None and settings.url == "http://10.244.0.21:8080"
