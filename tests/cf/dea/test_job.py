"""The dea job and buildpacks package of releases/dea: the spec validates, the template
renders (through bosh-py's renderer, with a `nats` link) into a config the DEA loads, the
monit file runs the module, and the packaging script installs runnable buildpacks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from bosh_py.release import JobForRender, link_from_provider, render_instance_jobs
from bosh_py.release.models import JobSpec
from cf_platform.dea.config import DeaConfig

from .helpers import REPO

DEA = REPO / "releases" / "dea"
JOB = DEA / "jobs" / "dea"
NATS_JOB = REPO / "releases" / "nats" / "jobs" / "nats"


def _spec(path: Path) -> JobSpec:
    return JobSpec.model_validate(yaml.safe_load((path / "spec").read_text()))


def render(props: dict, nats_props: dict, nats_addresses: list[str]) -> tuple[dict, dict]:
    spec = _spec(JOB)
    templates = {src: (JOB / "templates" / src).read_text() for src in spec.templates}
    instances = [{"name": "nats", "id": f"n{i}", "index": i, "az": "z1", "address": a, "bootstrap": i == 0}
                 for i, a in enumerate(nats_addresses)]
    link = link_from_provider(_spec(NATS_JOB), nats_props, "nats", instances, deployment="cf")
    instance = {"deployment": "cf", "name": "dea", "id": "5e1f-uuid", "index": 1, "az": "z2", "bootstrap": False,
                "networks": {"default": {"ip": "10.244.0.12", "default": ["dns", "gateway"]}}}
    rendered = render_instance_jobs([JobForRender("dea", spec, (JOB / "monit").read_text(), templates, props)],
                                    instance, {"dea": {"nats": link}})
    files = rendered.files["dea"]
    return json.loads(files["config/dea.json"]), yaml.safe_load(files["monit"])


def test_spec_names_packages_link_and_defaults():
    spec = _spec(JOB)
    assert spec.packages == ["cf-platform", "buildpacks"]
    assert [(c.name, c.type, c.optional) for c in spec.consumes] == [("nats", "nats", False),
                                                                      ("log_server", "log_server", True)]
    defaults = {name: p.default for name, p in spec.properties.items()}
    assert defaults["dea.memory_mb"] == 2048 and defaults["dea.heartbeat_interval"] == 2
    assert defaults["dea.advertise_interval"] == 5 and defaults["dea.health_check_timeout"] == 60
    assert defaults["dea.port_range_start"] == 61001 and defaults["dea.stacks"] == ["bookworm"]
    assert all(p.description for p in spec.properties.values())


def test_template_renders_a_config_the_dea_loads(tmp_path):
    config, monit = render({"dea": {"memory_mb": 4096, "health_check_timeout": 30}},
                           {"nats": {"user": "nats", "password": 'p"w\\d'}}, ["10.244.0.2", "10.244.0.3"])
    assert config["nats"] == {"servers": ["nats://10.244.0.2:4222", "nats://10.244.0.3:4222"],
                              "user": "nats", "password": 'p"w\\d'}
    assert config["id"] == "1-5e1f-uuid" and config["ip"] == "10.244.0.12"
    (tmp_path / "dea.json").write_text(json.dumps(config))
    loaded = DeaConfig.load(tmp_path / "dea.json")
    assert loaded.memory_mb == 4096 and loaded.health_check_timeout == 30 and loaded.heartbeat_interval == 2
    assert loaded.base_dir == Path("/var/vcap/data/dea") and loaded.buildpacks == ("python", "staticfile")
    assert monit == {"processes": [{
        "name": "dea", "executable": "/usr/bin/python3",
        "args": ["-m", "cf_platform.dea", "--config", "/var/vcap/jobs/dea/config/dea.json"],
        "env": {"PYTHONPATH": "/var/vcap/packages/cf-platform/lib"}, "working_dir": "/var/vcap/data"}]}


def test_nats_without_auth():
    config, _ = render({}, {}, ["10.244.0.2"])
    assert config["nats"] == {"servers": ["nats://10.244.0.2:4222"], "user": None, "password": None}
    assert DeaConfig.from_dict(config).nats.user is None


def test_buildpacks_packaging_installs_runnable_scripts(tmp_path):
    compile_dir, install = tmp_path / "compile", tmp_path / "install"
    shutil.copytree(DEA / "src" / "buildpacks", compile_dir / "buildpacks")
    install.mkdir()
    done = subprocess.run(["bash", str(DEA / "packages" / "buildpacks" / "packaging")], cwd=compile_dir,
                          env={"BOSH_INSTALL_TARGET": str(install), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("python", "staticfile"):
        assert (install / name / "bin" / "detect").stat().st_mode & 0o111
    spec = yaml.safe_load((DEA / "packages" / "buildpacks" / "spec").read_text())
    assert spec["name"] == "buildpacks" and spec["files"] == ["buildpacks/**/*"]
