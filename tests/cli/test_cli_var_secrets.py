"""Values given on the command line (``-v``, ``-l``, ``--var-file``) stay secret: the CLI
interpolates them, so it tells the director their values and the director redacts them
wherever it redacts its stored variables. Through the real CLI against a real director on
the dummy CPI: a job writes the password into its config and prints it when it fails; the
password appears in no output of any command (deploy with and without --no-redact, task
debug/event/result logs, tasks, events), while the places it was shown read redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.director.dummy_support import DummyDirector, dummy_director, manifest
from tests.director.live_director import api

PASSWORD = "Typed-On-Cli-9f2c41"  # -v
TOKEN = "From-Vars-File-77ab1e"  # -l
CERT = "-----BEGIN FAKE-----\nLine-One-Of-Cert-x81\nLine-Two-Of-Cert-y92\n-----END FAKE-----\n"  # --var-file
SECRETS = (PASSWORD, TOKEN, "Line-One-Of-Cert-x81", "Line-Two-Of-Cert-y92")

RUN = """#!/bin/sh
echo "starting with password {{ p('password') }} token {{ p('token') }}"
{% if p('mode') == 'fail' %}echo "failing; config: $(tr '\\n' ' ' < var/vcap/jobs/leaky/config/secret.conf)"
exit 1{% else %}exec sleep 3600{% endif %}
"""


def leaky_release(root: Path) -> Path:
    """Release ``leaky``: job ``leaky`` renders its secrets into config/secret.conf and, in
    mode ``fail``, prints that file to its log and exits (a canary that never runs)."""
    job = root / "jobs/leaky"
    (job / "templates").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config/final.yml").write_text("name: leaky\n")
    (job / "templates/run.sh").write_text(RUN)
    (job / "templates/secret.conf").write_text(
        "password={{ p('password') }}\ntoken={{ p('token') }}\ncert={{ p('cert') }}\n")
    (job / "spec").write_text(yaml.safe_dump({
        "name": "leaky", "templates": {"run.sh": "bin/run", "secret.conf": "config/secret.conf"}, "packages": [],
        "properties": {"password": {}, "token": {}, "cert": {}, "mode": {"default": "ok"}}}))
    (job / "monit").write_text(yaml.safe_dump({"processes": [
        {"name": "leaky", "executable": "/bin/sh", "args": ["var/vcap/jobs/leaky/bin/run"]}]}))
    return root


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    with dummy_director(tmp_path_factory.mktemp("cli-var-secrets")) as started:
        started.cli("upload-release", str(leaky_release(started.root / "leaky")))
        yield started


def write_manifest(director: DummyDirector, mode: str) -> str:
    doc = manifest(instances=2)
    doc["name"] = "leaky"
    doc["releases"].append({"name": "leaky", "version": "latest"})
    group = doc["instance_groups"][0]
    group["jobs"].append({"name": "leaky", "release": "leaky", "properties": {
        "password": "((password))", "token": "((token))", "cert": "((cert))", "mode": mode}})
    group["env"] = {"note": "pw ((password))"}  # outside `properties`: the diff does not hide it by itself
    path = director.root / "leaky.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def deploy(director: DummyDirector, mode: str, password: str, *flags: str):
    vars_file = director.root / "vars.yml"
    vars_file.write_text(yaml.safe_dump({"token": TOKEN, "unused": "never-sent-anywhere"}))
    cert_file = director.root / "cert.pem"
    cert_file.write_text(CERT)
    return director.cli("deploy", "-n", write_manifest(director, mode), "-v", f"password={password}",
                        "-l", str(vars_file), "--var-file", f"cert={cert_file}", *flags, check=False)


def every_output(director: DummyDirector) -> dict[str, str]:
    """What an operator can read back: each task's logs and result, the task and event lists."""
    found = {"tasks": director.cli("tasks", "-r", "50", "--json").stdout,
             "events": director.cli("events", "--json").stdout,
             "variables": director.cli("variables", "-d", "leaky", "--json").stdout}
    for task in json.loads(found["tasks"]):
        for kind in ("--debug", "--event", "--result"):
            found[f"task {task['id']} {kind}"] = director.cli("task", str(task["id"]), kind, check=False).stdout
    return found


def assert_no_secret(outputs: dict[str, str], *extra: str) -> None:
    for where, text in outputs.items():
        for secret in (*SECRETS, *extra):
            assert secret not in text, f"{secret!r} shown in {where}:\n{text}"


def test_cli_values_are_redacted_in_the_diff_log_tails_and_task_logs(director):
    first = deploy(director, "ok", PASSWORD)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "note: <redacted>" in first.stdout  # the diff of a new deployment, env outside properties

    # a new password and a failing canary whose log prints the old and new config
    failed = deploy(director, "fail", PASSWORD + "-v2")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1
    assert "-     note: <redacted>" in output and "+     note: <redacted>" in output  # changed, both hidden
    assert "is not running after update" in output and "failing; config: password=((redacted))" in output

    shown = deploy(director, "fail", PASSWORD + "-v3", "--no-redact")
    assert shown.returncode == 1
    assert "password: <redacted>" in shown.stdout  # ... but not the command line's values

    outputs = every_output(director)
    outputs.update({"deploy 1": first.stdout + first.stderr, "deploy 2": output,
                    "deploy 3": shown.stdout + shown.stderr})
    assert_no_secret(outputs, PASSWORD + "-v2", PASSWORD + "-v3")
    names = {row["name"] for row in json.loads(outputs["variables"])}
    assert {"cli:password", "cli:token", "cli:cert"} <= names and "cli:unused" not in names


def test_the_api_refuses_a_bad_cli_variables_field_by_name(director):
    with api(director) as http:
        response = http.post("/deployments", json={"manifest": yaml.safe_dump(manifest()), "cli_variables": ["x"]})
    assert response.status_code == 400 and "cli_variables: expected an object" in response.text


def test_var_file_needs_name_and_a_readable_path(director):
    result = director.cli("interpolate", write_manifest(director, "ok"), "--var-file", "cert", check=False)
    assert result.returncode != 0 and "--var-file" in result.stderr and "NAME=PATH" in result.stderr
    result = director.cli("interpolate", write_manifest(director, "ok"), "--var-file",
                          f"cert={director.root / 'missing.pem'}", check=False)
    assert result.returncode != 0 and "cert: cannot read" in result.stderr
