"""Staging end to end against a fake cloud controller: bits over HTTP (basic auth from the
URL), buildpacks, the droplet PUT back; failures answer {error, log}."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path


from cf_platform.dea import staging

from .helpers import BUILDPACKS, make_zip


def stage(cc, tmp_path: Path, guid: str, **extra) -> dict:
    message = {"app_id": guid, "name": "app-" + guid, "bits_uri": cc.url(guid, "bits"),
               "droplet_upload_uri": cc.url(guid, "droplet"), "buildpack": None, "limits": {"mem": 128}}
    message.update(extra)
    return staging.stage(message, tmp_path / "staging", tmp_path / "cache", BUILDPACKS,
                         ("python", "staticfile"), 50 * 1024 * 1024, 60)


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
    assert list((tmp_path / "staging").iterdir()) == []  # the work directory is gone


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


def test_bad_request():
    reply = staging.stage({"app_id": "x"}, Path("/nonexistent"), Path("/nonexistent"), BUILDPACKS, (), 1, 1)
    assert "bits_uri" in reply["error"]
