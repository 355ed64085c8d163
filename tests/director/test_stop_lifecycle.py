"""The director drives BOSH's whole job lifecycle (https://bosh.io/docs/job-lifecycle/):
a redeploy runs pre-stop (told what becomes of the VM, instance and deployment), drain
(told what changes), stop, post-stop, then pre-start, start, post-start and, once the whole
deployment is done, post-deploy; `--skip-drain` leaves drain out; deleting the deployment
tells pre-stop everything is going. Real director, real agents, on the dummy CPI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.director.dummy_support import DummyDirector, dummy_director

RELEASE = "lifecycle-test"
SCRIPTS = ("pre-start", "post-start", "post-deploy", "pre-stop", "drain", "post-stop")


def write_release(root: Path) -> Path:
    """Job ``recorder``: a shell-loop process; every lifecycle script appends a line to the
    file property ``log`` names (pre-stop with the BOSH_*_NEXT_STATE values, drain with its
    arguments; drain answers 0)."""
    job = root / "jobs/recorder"
    (job / "templates").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config/final.yml").write_text(f"name: {RELEASE}\n")
    extra = {"pre-stop": ' "$BOSH_DEPLOYMENT_NEXT_STATE" "$BOSH_INSTANCE_NEXT_STATE" "$BOSH_VM_NEXT_STATE"',
             "drain": ' "$@"'}
    for script in SCRIPTS:
        body = f"#!/bin/sh\necho {script}{extra.get(script, '')} >> {{{{ p('log') }}}}\n"
        (job / "templates" / script).write_text(body + ("echo 0\n" if script == "drain" else ""))
    (job / "templates/recorder.conf").write_text("greeting={{ p('greeting') }}\n")
    spec = {"name": "recorder", "packages": [],
            "templates": {"recorder.conf": "config/recorder.conf", **{s: f"bin/{s}" for s in SCRIPTS}},
            "properties": {"log": {}, "greeting": {"default": "hello"}}}
    (job / "spec").write_text(yaml.safe_dump(spec))
    (job / "monit").write_text(yaml.safe_dump({"processes": [
        {"name": "recorder", "executable": "/bin/sh", "args": ["-c", "while :; do sleep 1; done"]}]}))
    return root


def manifest(log: Path, greeting: str) -> dict:
    return {
        "name": "lifecycle", "releases": [{"name": RELEASE, "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": "100-5000",
                   "update_watch_time": "100-5000"},
        "instance_groups": [{
            "name": "rec", "azs": ["z1"], "instances": 1, "vm_type": "default", "stemcell": "default",
            "networks": [{"name": "default"}],
            "jobs": [{"name": "recorder", "release": RELEASE, "properties": {"log": str(log), "greeting": greeting}}],
        }],
    }


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    with dummy_director(tmp_path_factory.mktemp("lifecycle")) as local:
        local.cli("upload-release", str(write_release(local.root / "lifecycle-release")))
        yield local


def deploy(director: DummyDirector, log: Path, greeting: str, *flags: str) -> list[str]:
    path = director.root / "lifecycle.yml"
    path.write_text(yaml.safe_dump(manifest(log, greeting)))
    director.cli("deploy", "-n", str(path), *flags)
    return taken(log)


def taken(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_a_redeploy_runs_the_whole_way_down_then_up(director, tmp_path):
    log = tmp_path / "scripts.log"
    assert deploy(director, log, "hello") == ["pre-start", "post-start", "post-deploy"]
    assert deploy(director, log, "bonjour") == [
        "pre-stop keep keep keep", "drain job_unchanged hash_changed", "post-stop",
        "pre-start", "post-start", "post-deploy"]


def test_skip_drain_leaves_only_drain_out(director, tmp_path):
    log = tmp_path / "scripts.log"
    deploy(director, log, "hello")
    lines = deploy(director, log, "hola", "--skip-drain")
    assert lines == ["pre-stop keep keep keep", "post-stop", "pre-start", "post-start", "post-deploy"]


def test_deleting_the_deployment_tells_pre_stop_everything_goes(director, tmp_path):
    log = tmp_path / "scripts.log"
    deploy(director, log, "hello")
    director.cli("delete-deployment", "-d", "lifecycle", "-n")
    assert taken(log) == ["pre-stop delete delete delete", "drain job_shutdown hash_unchanged", "post-stop"]
