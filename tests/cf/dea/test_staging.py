"""Staging end to end against a fake cloud controller: bits over HTTP (basic auth from the
URL), buildpacks run in staging containers (root), the droplet PUT back; failures answer
{error, log}."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
from pathlib import Path



from cf_platform.dea import staging
from cf_platform.dea.config import DeaConfig

from .conftest import needs_root
from .helpers import BUILDPACKS, CGROUP_ROOT, cgroup_dirs, make_zip

pytestmark = [needs_root]


def staging_config(tmp_path: Path, **overrides) -> DeaConfig:
    return DeaConfig.from_dict({"ip": "127.0.0.1", "nats": {"servers": ["nats://127.0.0.1:4222"]},
                                "base_dir": str(tmp_path / "data"), "buildpacks_dir": str(BUILDPACKS),
                                "max_bits_mb": 50, "staging_timeout": 60, **overrides})


def stage(cc, tmp_path: Path, guid: str, **extra) -> dict:
    message = {"app_id": guid, "name": "app-" + guid, "bits_uri": cc.url(guid, "bits"),
               "droplet_upload_uri": cc.url(guid, "droplet"), "buildpack": None, "limits": {"mem": 128}}
    message.update(extra)
    return staging.stage(message, staging_config(tmp_path), cgroups_enabled=False)


def droplet_members(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else None) for m in tar}


def test_python_app_is_staged_and_uploaded(fake_cc, tmp_path):
    fake_cc.bits["py1"] = make_zip({"app.py": "print('hi')\n", "lib/helper.py": "X = 1\n"})
    reply = stage(fake_cc, tmp_path, "py1")
    assert "error" not in reply, reply
    assert reply["detected_buildpack"] == "python"
    assert reply["start_command"] == "python3 app.py"
    uploaded = fake_cc.droplets["py1"]
    assert reply["droplet_sha1"] == hashlib.sha1(uploaded).hexdigest()
    members = droplet_members(uploaded)
    assert members["app/app.py"] == b"print('hi')\n" and members["app/lib/helper.py"] == b"X = 1\n"
    assert json.loads(members["staging_info.yml"]) == {"detected_buildpack": "python",
                                                      "start_command": "python3 app.py"}
    assert "Detected python" in reply["log"] and "Uploading droplet" in reply["log"]
    assert list((tmp_path / "data" / "staging").iterdir()) == []  # the work directory is gone


def test_static_app_with_procfile(fake_cc, tmp_path):
    fake_cc.bits["st1"] = make_zip({"index.html": "<h1>hi</h1>", "Procfile": "web: python3 -m http.server $PORT\n"})
    reply = stage(fake_cc, tmp_path, "st1")
    assert reply["detected_buildpack"] == "staticfile"
    assert reply["start_command"] == "python3 -m http.server $PORT"


def test_nothing_detected_is_a_staging_error(fake_cc, tmp_path):
    fake_cc.bits["none"] = make_zip({"notes.txt": "no app here"})
    reply = stage(fake_cc, tmp_path, "none")
    assert reply["error"] == "None of the buildpacks detected a compatible application"
    assert "none" not in fake_cc.droplets and "Staging failed" in reply["log"]


def test_missing_bits_and_bad_credentials(fake_cc, tmp_path):
    reply = stage(fake_cc, tmp_path, "nobits")
    assert "HTTP 404" in reply["error"]
    fake_cc.bits["auth"] = make_zip({"app.py": ""})
    bad = fake_cc.url("auth", "bits").replace(fake_cc.password.replace("@", "%40").replace(":", "%3A"), "wrong")
    reply = stage(fake_cc, tmp_path, "auth", bits_uri=bad)
    assert "HTTP 401" in reply["error"] and "wrong" not in reply["error"]  # no password in messages


def test_zip_slip_is_refused(fake_cc, tmp_path):
    fake_cc.bits["evil"] = make_zip({"app.py": "", "../../escaped.txt": "x"})
    reply = stage(fake_cc, tmp_path, "evil")
    assert "escapes" in reply["error"]
    assert not (tmp_path / "escaped.txt").exists()


def test_not_a_zip(fake_cc, tmp_path):
    fake_cc.bits["junk"] = b"this is not a zip"
    assert "not a zip" in stage(fake_cc, tmp_path, "junk")["error"]


def test_bad_request(tmp_path):
    reply = staging.stage({"app_id": "x"}, staging_config(tmp_path), cgroups_enabled=False)
    assert "bits_uri" in reply["error"]


def test_buildpacks_run_as_the_staging_user_in_a_container(fake_cc, tmp_path):
    """A compile step that records who and where it is: the staging uid, no capabilities,
    a root without /var/vcap, and loopback only."""
    probe = ("import os, json\n"
             "status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
             "nets = sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:])\n"
             "open('seen.json', 'w').write(json.dumps({'uid': os.getuid(), 'cap': status['CapEff'].strip(),\n"
             "    'root': sorted(os.listdir('/')), 'var': os.listdir('/var'), 'nets': nets}))\n")
    fake_cc.bits["probe"] = make_zip({"app.py": "print(1)\n", "Procfile": "web: python3 app.py\n",
                                      "setup_probe.py": probe})
    buildpack = tmp_path / "bp" / "probe" / "bin"
    buildpack.mkdir(parents=True)
    for name, body in {"detect": "echo probe", "compile": 'cd "$1" && python3 setup_probe.py',
                       "release": "echo '---'"}.items():
        (buildpack / name).write_text(f"#!/bin/sh\n{body}\n")
        (buildpack / name).chmod(0o755)
    config = staging_config(tmp_path, buildpacks_dir=str(tmp_path / "bp"), buildpacks=["probe"])
    message = {"app_id": "probe", "name": "probe", "bits_uri": fake_cc.url("probe", "bits"),
               "droplet_upload_uri": fake_cc.url("probe", "droplet")}
    reply = staging.stage(message, config, cgroups_enabled=False)
    assert "error" not in reply, reply
    seen = json.loads(droplet_members(fake_cc.droplets["probe"])["app/seen.json"])
    assert seen["uid"] == config.staging_uid and seen["uid"] != 0
    assert seen["cap"] == "0000000000000000"
    assert seen["var"] == ["tmp"]   # no /var/vcap: no jobs, no bosh settings, no DEA state
    assert set(seen["root"]) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev",
                                 "tmp", "var", "home", "buildpacks"}
    assert seen["nets"] == ["lo"]


def test_a_buildpack_that_runs_too_long_is_stopped(fake_cc, tmp_path):
    fake_cc.bits["slow"] = make_zip({"app.py": ""})
    buildpack = tmp_path / "bp" / "slow" / "bin"
    buildpack.mkdir(parents=True)
    for name, body in {"detect": "echo slow", "compile": "sleep 600", "release": "echo '---'"}.items():
        (buildpack / name).write_text(f"#!/bin/sh\n{body}\n")
        (buildpack / name).chmod(0o755)
    config = staging_config(tmp_path, buildpacks_dir=str(tmp_path / "bp"), buildpacks=["slow"], staging_timeout=2)
    message = {"app_id": "slow", "name": "slow", "bits_uri": fake_cc.url("slow", "bits"),
               "droplet_upload_uri": fake_cc.url("slow", "droplet")}
    reply = staging.stage(message, config, cgroups_enabled=False)
    assert reply["error"] == "buildpack slow: compile did not finish within 2 s"
    assert "slow" not in fake_cc.droplets


def test_a_buildpack_over_the_staging_memory_limit_is_killed(fake_cc, tmp_path):
    parent = f"dea-test-{secrets.token_hex(4)}"
    fake_cc.bits["hungry"] = make_zip({"app.py": ""})
    buildpack = tmp_path / "bp" / "hungry" / "bin"
    buildpack.mkdir(parents=True)
    for name, body in {"detect": "echo hungry", "release": "echo '---'",
                       "compile": "python3 -c 'x = bytearray(1024 * 1024 * 1024); print(\"survived\")'"}.items():
        (buildpack / name).write_text(f"#!/bin/sh\n{body}\n")
        (buildpack / name).chmod(0o755)
    config = staging_config(tmp_path, buildpacks_dir=str(tmp_path / "bp"), buildpacks=["hungry"],
                            staging_memory_mb=64, cgroup_parent=parent)
    message = {"app_id": "hungry", "name": "hungry", "bits_uri": fake_cc.url("hungry", "bits"),
               "droplet_upload_uri": fake_cc.url("hungry", "droplet")}
    try:
        reply = staging.stage(message, config, cgroups_enabled=True)
        assert reply["error"] == "buildpack hungry failed to compile the app (exit 137)"
        assert "survived" not in reply["log"]
        assert cgroup_dirs(parent) == [CGROUP_ROOT / c / parent for c in ("memory", "pids")]  # steps removed
    finally:
        for group in sorted(cgroup_dirs(parent), key=lambda p: len(p.parts), reverse=True):
            group.rmdir()
