"""ERB templates rendered by a real director, deployed with the CLI as an operator would.

Attack: a release whose ERB templates (Ruby: any code) try to read the director's secrets
and reach its API. ``deploy --dry-run`` plans and renders, so no VM is made; a template's
error message is also how this test sees what a template was given.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.director.live_director import one_group_manifest, write_release
from tests.e2e.manifests import write
from tests.harness import TEST_SUBNET, LocalDirector, director_with_stemcell

pytestmark = pytest.mark.vm  # uploads the local stemcell (root); rendering fails before any VM exists


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    root = tmp_path_factory.mktemp("erb-director")
    with director_with_stemcell(root / "director-erb") as local:
        api_port = json.loads((local.root / "cli.json").read_text())["url"].rsplit(":", 1)[1].strip("/")
        secrets = json.dumps(str(local.data_dir / "secrets.json"))
        release = write_release(root / "erbtest", "erbtest", {
            "reader": {"secrets.conf.erb": f"<%= File.read({secrets}) %>\n"},
            "dialer": {"dial.conf.erb": f"<% require 'socket' %>\n<%= TCPSocket.new('127.0.0.1', {api_port}) %>\n"},
            "teller": {"tell.conf.erb": "ok\n<% raise \"seen #{spec.deployment} #{spec.release.name}/"
                                        "#{spec.release.version} #{name}/#{index} #{spec.address}\" %>\n"},
        })
        local.cli("upload-release", str(release))
        yield local


def _dry_run(director: LocalDirector, tmp_path: Path, deployment: str, job: str) -> str:
    manifest = write(tmp_path, one_group_manifest(deployment, "erbtest", [job]))
    result = director.cli("deploy", "-n", "--dry-run", manifest, check=False, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_template_cannot_read_the_directors_secrets(director, tmp_path):
    output = _dry_run(director, tmp_path, "reading", "reader")
    assert ("instance_groups/web/0: Unable to render templates: job 'reader' template 'secrets.conf.erb' line 1: "
            "Permission denied @ rb_sysopen - ") in output
    secrets = json.loads((director.data_dir / "secrets.json").read_text())
    task = json.dumps(director.json("tasks", "-r", "1"))
    for secret in (secrets["admin_password"], secrets["nats_password"], secrets["blobstore_password"]):
        assert secret not in output and secret not in task


def test_template_cannot_reach_the_directors_api(director, tmp_path):
    output = _dry_run(director, tmp_path, "dialing", "dialer")
    assert "job 'dialer' template 'dial.conf.erb' line 2: Network is unreachable - connect(2)" in output


def test_template_gets_the_deploys_spec_and_its_release(director, tmp_path):
    output = _dry_run(director, tmp_path, "telling", "teller")
    assert f"job 'teller' template 'tell.conf.erb' line 2: seen telling erbtest/0+dev.1 web/0 {TEST_SUBNET}." in output
