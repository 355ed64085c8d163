"""releases/postgres's jobs rendered as the director renders them (its isolated worker), from
the release directory itself: the broker's config is one the broker accepts, passwords with
any character stay intact, and bad properties fail the render naming the property."""

from __future__ import annotations

import json
import subprocess

import yaml
from cf_platform.postgres_broker.config import parse_config

from bosh_py.release import JobForRender, JobSpec, RenderError
from bosh_py.release.render import RenderedInstance
from tests.harness import REPO
from tests.release.erb_support import INSTANCE, render

RELEASE = REPO / "releases/postgres"
PASSWORD = "p'a\"s s\\w$(rm -rf /)`x`"


def job(name: str, properties: dict) -> JobForRender:
    directory = RELEASE / "jobs" / name
    spec = yaml.safe_load((directory / "spec").read_text())
    templates = {src: (directory / "templates" / src).read_text() for src in spec["templates"]}
    return JobForRender(name, JobSpec.model_validate(spec), (directory / "monit").read_text(), templates,
                        properties, {"name": "postgres", "version": "0+dev.1"})


def postgres(**extra: object) -> JobForRender:
    return job("postgres", {"postgres": {"admin_password": PASSWORD, **extra}})


def broker() -> JobForRender:
    return job("postgres_broker", {"postgres_broker": {"password": PASSWORD, "postgres": {"admin_password": PASSWORD}}})


def test_the_broker_config_is_one_the_broker_accepts_with_the_instance_ip_for_apps():
    [result] = render([postgres(port=5433, admin_user="pgadmin"), broker()], links={
        "postgres": {"name": "postgres", "type": "postgres", "deployment": "cf",
                     "properties": {"postgres": {"port": 5433, "admin_user": "pgadmin"}},
                     "instances": [{"name": "postgres", "id": "i", "index": 0, "az": "z1",
                                    "address": "10.244.3.5", "bootstrap": True}]}})
    assert isinstance(result, RenderedInstance), result
    config = parse_config(json.loads(result.files["postgres_broker"]["config/broker.json"]))
    assert config.password == PASSWORD and config.postgres.admin_password == PASSWORD
    assert (config.postgres.host, config.postgres.port, config.postgres.admin_user) == ("127.0.0.1", 5433, "pgadmin")
    assert config.credentials_host == INSTANCE["networks"]["default"]["ip"]
    assert config.postgres.psql == "/var/vcap/packages/postgresql/bin/psql"
    files = result.files["postgres"]
    assert json.loads(files["config/admin.json"]) == {"user": "pgadmin", "password": PASSWORD}
    assert "port = 5433" in files["config/postgresql.conf"] and "jit = off" in files["config/postgresql.conf"]
    assert "host    all       all   0.0.0.0/0  scram-sha-256" in files["config/pg_hba.conf"]
    for rendered in files.values():   # the password reaches only admin.json
        assert PASSWORD not in rendered or rendered == files["config/admin.json"]
    syntax = subprocess.run(["bash", "-n"], input=files["bin/postgres_ctl"], text=True, capture_output=True,
                            check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_bad_properties_fail_the_render_naming_the_property():
    [bad_dir] = render([postgres(data_dir="/var/vcap/store/x; rm -rf /")])
    assert isinstance(bad_dir, RenderError) and "postgres.data_dir" in str(bad_dir), bad_dir
    [bad_net] = render([postgres(client_networks=["10.0.0.0/8 trust\nlocal all all"])])
    assert isinstance(bad_net, RenderError) and "postgres.client_networks" in str(bad_net), bad_net
    [no_password] = render([job("postgres_broker", {})])
    assert isinstance(no_password, RenderError) and "postgres_broker.password" in str(no_password), no_password
