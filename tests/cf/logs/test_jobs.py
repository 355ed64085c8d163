"""The log_server release's job and the DEA job's log and status properties: specs
validate, templates render (bosh-py's renderer, with links) into configs the components
load, and the log_server release vendors the current cf-platform."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from cf_platform.dea.config import DeaConfig
from cf_platform.log_server.config import LogServerConfig

from bosh_py.release import (
    JobForRender,
    link_from_provider,
    read_release_dir,
    render_instance_jobs,
)
from bosh_py.release.models import JobSpec

REPO = Path(__file__).resolve().parents[3]
LOG_SERVER = REPO / "releases" / "log_server"
LOG_JOB = LOG_SERVER / "jobs" / "log_server"
DEA_JOB = REPO / "releases" / "dea" / "jobs" / "dea"
NATS_JOB = REPO / "releases" / "nats" / "jobs" / "nats"
INSTANCE = {"deployment": "cf", "id": "9a-uuid", "index": 0, "az": "z1", "bootstrap": True,
            "networks": {"default": {"ip": "10.244.0.20", "default": ["dns", "gateway"]}}}


def _spec(path: Path) -> JobSpec:
    return JobSpec.model_validate(yaml.safe_load((path / "spec").read_text()))


def _render(job: Path, name: str, props: dict, links: dict | None = None) -> dict[str, str]:
    spec = _spec(job)
    templates = {src: (job / "templates" / src).read_text() for src in spec.templates}
    rendered = render_instance_jobs([JobForRender(name, spec, (job / "monit").read_text(), templates, props)],
                                    {**INSTANCE, "name": name}, {name: links or {}})
    return rendered.files[name]


def _link(job: Path, props: dict, name: str, address: str) -> dict:
    instances = [{"name": name, "id": "x", "index": 0, "az": "z1", "address": address, "bootstrap": True}]
    return link_from_provider(_spec(job), props, name, instances, deployment="cf")


SENDERS = {"dea": {"password": 'p"w', "sources": ["APP", "STG", "DEA"]}, "router": {"password": "r", "sources": ["RTR"]}}


def test_log_server_job_renders_a_config_the_server_loads(tmp_path):
    files = _render(LOG_JOB, "log_server", {"log_server": {
        "senders": SENDERS, "recent_lines": 50,
        "cloud_controller": {"url": "http://10.244.0.5:9022", "internal_user": "i", "internal_password": "ip"}}})
    path = tmp_path / "log_server.json"
    path.write_text(files["config/log_server.json"])
    config = LogServerConfig.load(path)
    assert config.port == 8084 and config.recent_lines == 50 and config.cc_url == "http://10.244.0.5:9022"
    assert config.senders["dea"].password == 'p"w' and config.senders["router"].sources == {"RTR"}
    assert config.cc_internal_user == "i" and config.drain_refresh_interval == 30
    monit = yaml.safe_load(files["monit"])["processes"][0]
    assert monit["args"] == ["-m", "cf_platform.log_server", "--config",
                             "/var/vcap/jobs/log_server/config/log_server.json"]
    assert all(p.description for p in _spec(LOG_JOB).properties.values())


def test_dea_job_takes_the_log_server_from_its_link_and_serves_status(tmp_path):
    nats = _link(NATS_JOB, {}, "nats", "10.244.0.2")
    log_server = _link(LOG_JOB, {"log_server": {"port": 8090}}, "log_server", "10.244.0.20")
    files = _render(DEA_JOB, "dea", {"dea": {"log_server": {"user": "dea", "password": "s3cret"},
                                             "status": {"user": "st", "password": "stpw"}}},
                    {"nats": nats, "log_server": log_server})
    config = json.loads(files["config/dea.json"])
    assert config["log_server"] == {"url": "http://10.244.0.20:8090", "user": "dea", "password": "s3cret"}
    (tmp_path / "dea.json").write_text(json.dumps(config))
    loaded = DeaConfig.load(tmp_path / "dea.json")
    assert loaded.log_server is not None and loaded.log_server.url == "http://10.244.0.20:8090"
    assert loaded.status is not None and loaded.status.port == 8083 and loaded.status.user == "st"
    # without credentials neither is configured: lines stay in the instance's files
    bare = json.loads(_render(DEA_JOB, "dea", {}, {"nats": nats, "log_server": log_server})["config/dea.json"])
    assert bare["log_server"] is None and "status" not in bare
    assert DeaConfig.from_dict(bare).log_server is None


def test_dea_config_refuses_a_bad_log_server_naming_the_key():
    base = {"ip": "10.0.0.1", "nats": {"servers": ["nats://127.0.0.1:4222"]}}
    for bad, key in (({"url": "ftp://x", "user": "u", "password": "p"}, "log_server.url"),
                     ({"url": "http://x:1", "user": "u"}, "log_server.password")):
        try:
            DeaConfig.from_dict({**base, "log_server": bad})
        except Exception as error:  # noqa: BLE001 - the message is what is checked
            assert key in str(error), error
        else:
            raise AssertionError(f"{bad} was accepted")


def test_log_server_release_vendors_the_current_cf_platform(tmp_path):
    src = read_release_dir(LOG_SERVER)
    assert sorted(src.packages) == ["cf-platform"] and list(src.jobs) == ["log_server"]
    current = read_release_dir(REPO / "releases" / "cf_platform").packages["cf-platform"]
    assert src.packages["cf-platform"].fingerprint == current.fingerprint, \
        "releases/log_server vendors an old cf-platform: run scripts/prepare-cf-blobs"
    created = subprocess.run([str(Path(sys.executable).parent / "bosh-py"), "create-release", str(LOG_SERVER),
                              "--tarball", str(tmp_path / "r.tgz")], capture_output=True, text=True, timeout=120,
                             check=False)
    assert created.returncode == 0, created.stderr


def test_router_job_takes_the_log_server_from_its_link():
    from cf_platform.router.config import parse_config
    router_job = REPO / "releases" / "router" / "jobs" / "router"
    nats = _link(NATS_JOB, {}, "nats", "10.244.0.2")
    log_server = _link(LOG_JOB, {}, "log_server", "10.244.0.20")
    files = _render(router_job, "router", {"router": {"log_server": {"user": "router", "password": "rpw"}}},
                    {"nats": nats, "log_server": log_server})
    config = parse_config(json.loads(files["config/router.json"]))
    assert config.log_server is not None and config.log_server.url == "http://10.244.0.20:8084"
    assert config.log_server.user == "router"
    bare = parse_config(json.loads(_render(router_job, "router", {}, {"nats": nats})["config/router.json"]))
    assert bare.log_server is None


def test_health_manager_job_takes_the_log_server_from_its_link():
    from cf_platform.health_manager.config import parse_config
    hm_job = REPO / "releases" / "health_manager" / "jobs" / "health_manager"
    cc_job = REPO / "releases" / "cloud_controller" / "jobs" / "cloud_controller"
    links = {"nats": _link(NATS_JOB, {}, "nats", "10.244.0.2"),
             "cloud_controller": _link(cc_job, {"cc": {"internal_api": {"user": "i", "password": "ip"}}},
                                       "cloud_controller", "10.244.0.5"),
             "log_server": _link(LOG_JOB, {}, "log_server", "10.244.0.20")}
    files = _render(hm_job, "health_manager", {"hm": {"log_server": {"user": "hm", "password": "hpw"}}}, links)
    config = parse_config(json.loads(files["config/health_manager.json"]))
    assert config.log_server is not None and config.log_server.url == "http://10.244.0.20:8084"
    assert config.log_server.user == "hm"
    bare = _render(hm_job, "health_manager", {}, {k: v for k, v in links.items() if k != "log_server"})
    assert parse_config(json.loads(bare["config/health_manager.json"])).log_server is None


def test_cloud_controller_job_names_the_log_server_in_its_config(tmp_path):
    from cf_platform.cloud_controller.config import load_config
    cc_job = REPO / "releases" / "cloud_controller" / "jobs" / "cloud_controller"
    links = {"nats": _link(NATS_JOB, {}, "nats", "10.244.0.2"),
             "log_server": _link(LOG_JOB, {}, "log_server", "10.244.0.20")}
    props = {"cc": {"admin_password": "a", "token_secret": "t", "domain": "apps.test",
                    "internal_api": {"user": "i", "password": "ip"}}}
    for links_given, expected in ((links, "http://10.244.0.20:8084"), ({"nats": links["nats"]}, None)):
        path = tmp_path / "cc.json"
        path.write_text(_render(cc_job, "cloud_controller", props, links_given)["config/cloud_controller.json"])
        assert load_config(path).extra.get("logging_endpoint") == expected


def test_log_server_job_finds_the_cloud_controller_through_its_link(tmp_path):
    cc_job = REPO / "releases" / "cloud_controller" / "jobs" / "cloud_controller"
    cc = _link(cc_job, {"cc": {"internal_api": {"user": "internal", "password": "ipw"}}}, "cloud_controller",
               "10.244.0.5")
    files = _render(LOG_JOB, "log_server", {"log_server": {"senders": SENDERS}}, {"cloud_controller": cc})
    path = tmp_path / "log_server.json"
    path.write_text(files["config/log_server.json"])
    config = LogServerConfig.load(path)
    assert config.cc_url == "http://10.244.0.5:9022"
    assert (config.cc_internal_user, config.cc_internal_password) == ("internal", "ipw")


def _log_server_config(tmp_path: Path, props: dict, links: dict | None = None) -> LogServerConfig:
    base = {"senders": SENDERS, "cloud_controller": {"url": "http://10.244.0.5:9022"}}
    files = _render(LOG_JOB, "log_server", {**props, "log_server": {**base, **props.get("log_server", {})}}, links)
    path = tmp_path / "log_server.json"
    path.write_text(files["config/log_server.json"])
    return LogServerConfig.load(path)


def test_log_server_job_is_a_component_with_a_status_port_and_its_own_nats_user(tmp_path):
    nats = _link(NATS_JOB, {"nats": {"user": "shared", "password": "shared-pw"}}, "nats", "10.244.0.2")
    config = _log_server_config(tmp_path, {"nats": {"user": "log_server", "password": 'n"pw'},
                                           "log_server": {"status": {"user": "ls-status", "password": 's"t'}}},
                                {"nats": nats})
    assert config.status is not None
    assert (config.status.port, config.status.user, config.status.password) == (8086, "ls-status", 's"t')
    assert (config.index, config.host) == (0, "10.244.0.20")
    assert config.nats is not None and config.nats.servers == ["nats://10.244.0.2:4222"]
    assert (config.nats.user, config.nats.password) == ("log_server", 'n"pw')
    # without its own user: the link's; without the link or status credentials: neither
    assert _log_server_config(tmp_path, {}, {"nats": nats}).nats.user == "shared"
    plain = _log_server_config(tmp_path, {})
    assert plain.status is None and plain.nats is None
    assert "password" not in repr(plain) and "s\"t" not in repr(config) and "n\"pw" not in repr(config)


def test_a_bad_status_or_nats_section_is_refused_naming_the_key(tmp_path):
    from tests.cf.cc.plumbing import vm_python
    python, env = vm_python(tmp_path)
    base = {"cloud_controller": {"url": "http://127.0.0.1:1"}, "senders": SENDERS}
    for section, message in (({"status": {"port": "8086", "user": "u", "password": "p"}}, "status.port: expected int"),
                             ({"status": {"port": 8086}}, "'status.user' and 'status.password' are required"),
                             ({"nats": {"servers": ["10.0.0.1:4222"]}}, "nats.servers[0]: expected a nats:// URL"),
                             ({"nats": {"servers": ["nats://10.0.0.1:4222"], "user": "a.b", "password": "p"}},
                              "nats.user: NATS user 'a.b' cannot name its reply inbox")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({**base, **section}))
        result = subprocess.run([*python, "-m", "cf_platform.log_server", "--config", str(path)], capture_output=True,
                                check=False, text=True, env=env, timeout=30)
        assert result.returncode == 2 and message in result.stderr, (section, result.stderr)


def test_log_server_job_blocks_drains_to_its_own_networks_and_the_operators_ranges(tmp_path):
    spec = _spec(LOG_JOB)
    templates = {src: (LOG_JOB / "templates" / src).read_text() for src in spec.templates}
    instance = {**INSTANCE, "name": "log_server", "networks": {
        "default": {"ip": "10.244.0.20", "netmask": "255.255.255.0", "default": ["dns", "gateway"]},
        "v6": {"ip": "fd00:1::20", "netmask": "ffff:ffff:ffff:ffff::"}}}

    def config(drains: dict) -> LogServerConfig:
        props = {"log_server": {"senders": SENDERS, "cloud_controller": {"url": "http://10.244.0.5:9022"},
                                "drains": drains}}
        files = render_instance_jobs([JobForRender("log_server", spec, (LOG_JOB / "monit").read_text(), templates,
                                                   props)], instance, {"log_server": {}}).files["log_server"]
        (tmp_path / "log_server.json").write_text(files["config/log_server.json"])
        return LogServerConfig.load(tmp_path / "log_server.json")

    policy = config({"blocked_ranges": ["10.0.0.1-10.0.0.9"], "allowed_ranges": ["10.244.0.7/32"]}).drain_policy
    assert policy.refusal("10.244.0.5") == "10.244.0.5 is in the blocked range 10.244.0.20/255.255.255.0"
    assert policy.refusal("fd00:1::5") is not None and policy.refusal("fd00:2::5") is None
    assert policy.refusal("10.0.0.3") is not None and policy.refusal("10.0.0.10") is None
    assert policy.refusal("10.244.0.7") is None                         # the operator's exception
    assert policy.refusal("127.0.0.1") is not None                      # always, whatever the properties
    assert config({}).drain_policy.refusal("10.244.0.5") is not None    # the default: own networks blocked
    assert config({"block_own_networks": False}).drain_policy.refusal("10.244.0.5") is None
    assert all(p.description for p in spec.properties.values())
