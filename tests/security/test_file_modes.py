"""Secrets at rest, checked as an unprivileged user would try them: after `bosh-py director
start` and a deploy on namespace VMs, uid nobody can read nothing under the director's data
dir (state DB with variables in clear, director.json, secrets, blobstore of rendered
templates), and on a VM nothing of the rendered jobs, the agent's settings or its spec.
A VM's own blobstore login cannot delete or plant blobs either."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from bosh_py.ssh.client import PinnedSshClient
from tests.e2e.manifests import web_manifest, write
from tests.harness import REPO, LocalDirector, ensure_stemcell

pytestmark = [pytest.mark.vm, pytest.mark.slow]

AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# Reads each path named on stdin, one a line (a directory is listed, a file read), and prints
# those it could.
PROBE = """
import os, sys
for path in sys.stdin.read().split("\\n"):
    if not path:
        continue
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
        print(path)
    except OSError:
        pass
"""
CONTROL = "/etc/passwd"  # world-readable everywhere: proves the probe can report a read


@pytest.fixture(scope="module")
def deployed():
    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    stemcell = ensure_stemcell()
    # not under pytest's 0700 temporary directory: uid nobody must be able to reach the data dir
    root = Path(tempfile.mkdtemp(prefix="bosh-py-modes-", dir="/var/tmp"))
    root.chmod(0o755)
    director = LocalDirector(root / "bosh-py")
    try:
        director.start()
        director.cli("upload-stemcell", str(stemcell))
        director.update_cloud_config()
        release = root / "testrel"
        shutil.copytree(REPO / "tests/fixtures/releases/testrel", release)
        director.cli("upload-release", str(release))
        director.cli("deploy", "-n", write(root, web_manifest(name="modes", instances=2, disk=False)))
        yield director
    finally:
        try:
            director.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def readable_as_nobody(paths: list[str], run=None) -> list[str]:
    """The paths uid 65534 (no groups) can read, probed on this host or, with ``run``, on a VM."""
    command = [*AS_NOBODY, "/usr/bin/python3", "-I", "-c", PROBE]
    listing = "\n".join([CONTROL, *paths])
    if run is None:
        output = subprocess.run(command, input=listing, capture_output=True, text=True, check=True).stdout
    else:
        output = run(f"printf %s {shlex.quote(listing)} | {shlex.join(command)}").stdout
    readable = output.splitlines()
    assert CONTROL in readable, "the probe could not even read a world-readable file"
    return [path for path in readable if path != CONTROL]


def test_nothing_under_the_data_dir_is_readable_by_another_user(deployed):
    data_dir = deployed.data_dir
    assert readable_as_nobody([str(data_dir.parent)]) == [str(data_dir.parent)], "the probe cannot reach it"
    paths = [str(data_dir)] + [str(p) for p in data_dir.rglob("*")]
    assert any(p.endswith("director.db") for p in paths) and any("/blobstore/" in p for p in paths)
    assert readable_as_nobody(paths) == []


def test_the_secrets_files_are_owner_only(deployed):
    """Beyond the 0700 data dir: each file holding a secret is 0600 on its own, so copying
    the tree or loosening one directory does not expose it."""
    data_dir = deployed.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    private = [data_dir / name for name in ("director.db", "director.json", "secrets.json", "director.log",
                                            "agent-blobstore.key")]
    private += [p for p in (data_dir / "blobstore").rglob("*")]
    private += [p for p in data_dir.glob("director.db-*")]
    private += [data_dir / "ssh" / "id_ed25519", data_dir / "nats" / "nats.conf", data_dir / "nats" / "users.json"]
    loose = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in private
             if not p.is_symlink() and p.lstat().st_mode & 0o077}
    assert loose == {}
    cli_config = Path(deployed.env["BOSH_PY_CONFIG"])  # holds the admin password
    assert stat.S_IMODE(cli_config.stat().st_mode) == 0o600


def test_director_start_tightens_a_data_dir_left_open_by_an_older_version(tmp_path):
    """An install made before this fix: a 0755 data dir, a 0644 database and blobs. The
    next `bosh-py director start` leaves none of it open."""
    director = LocalDirector(tmp_path / "old")
    data_dir = director.data_dir
    blob = data_dir / "blobstore" / "ab" / ("ab" + "0" * 30)
    blob.parent.mkdir(parents=True)
    blob.write_text("rendered templates with secrets")
    (data_dir / "director.db").write_bytes(b"")  # an empty file is an empty SQLite database
    for path in (data_dir, blob.parent.parent, blob.parent):
        path.chmod(0o755)
    for path in (blob, data_dir / "director.db"):
        path.chmod(0o644)
    try:
        director.start()
        loose = {str(p): oct(stat.S_IMODE(p.lstat().st_mode)) for p in [data_dir, *data_dir.rglob("*")]
                 if not p.is_symlink() and p.lstat().st_mode & 0o077 and not p.name.startswith("nats")}
        assert loose == {}
    finally:
        # not director.stop(): its CPI clean-up would take this run's VMs (same prefix) with it
        director.cli("director", "stop", "--data-dir", str(data_dir), check=False, timeout=60)


def vm_shells(director: LocalDirector) -> list[PinnedSshClient]:
    key = (director.data_dir / "ssh" / "id_ed25519").read_text()
    rows = director.json("instances", "-d", "modes")
    assert len(rows) == 2
    return [PinnedSshClient(row["ips"][0], key, row["host_public_key"]).connect() for row in rows]


def test_rendered_jobs_and_agent_files_are_root_only_on_the_vm(deployed):
    for vm in vm_shells(deployed):
        with vm:
            listed = vm.run("find -L /var/vcap/jobs/ /var/vcap/data/jobs /var/vcap/bosh").stdout
            paths = listed.splitlines()
            assert "/var/vcap/jobs/web/public/index.html" in paths  # rendered with the job's properties
            assert "/var/vcap/bosh/settings.json" in paths
            assert readable_as_nobody(paths, run=vm.run) == []
            # the job still works: its server (root) reads the rendered page
            assert "hello from web/" in vm.run("python3 -c \"import urllib.request;"
                                               "print(urllib.request.urlopen('http://127.0.0.1:8080/index.html')"
                                               ".read().decode())\"").stdout


# Runs on a VM as root: with the agent's own blobstore login, try what an attacker would.
VM_ATTACK = """
import base64, json, urllib.error, urllib.request, uuid
settings = json.load(open("/var/vcap/bosh/settings.json"))["blobstore"]
spec = json.load(open("/var/vcap/bosh/spec.json"))
token = base64.b64encode(f"{settings['user']}:{settings['password']}".encode()).decode()
def status(method, blob_id, body=None):
    request = urllib.request.Request(f"{settings['url']}/blobs/{blob_id}", data=body, method=method,
                                     headers={"Authorization": "Basic " + token})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
own = spec["rendered_templates_archive"]["blobstore_id"]
print(json.dumps({"user": settings["user"], "own_archive": own,
                  "get_own": status("GET", own), "get": {b: status("GET", b) for b in %s},
                  "delete_own": status("DELETE", own), "put_new": status("PUT", uuid.uuid4().hex, b"x")}))
"""


def test_a_vms_blobstore_login_reads_only_its_own_blobs(deployed):
    first, second = vm_shells(deployed)
    with first, second:
        archive_of_second = json.loads(second.run("cat /var/vcap/bosh/spec.json").stdout)[
            "rendered_templates_archive"]["blobstore_id"]
        report = json.loads(first.run(f"python3 -c {shlex.quote(VM_ATTACK % [archive_of_second])}").stdout)
    assert report["user"] != "agent"  # its own login, not one shared by every VM
    assert report["get_own"] == 200
    assert report["get"] == {archive_of_second: 403}
    assert report["delete_own"] == 403
    assert report["put_new"] == 403
    blob = deployed.data_dir / "blobstore" / report["own_archive"][:2] / report["own_archive"]
    assert blob.exists()
