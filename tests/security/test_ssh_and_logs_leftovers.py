"""Attack: what `bosh-py ssh` and `bosh-py logs` leave behind, on a real deployment.

- A one-time ssh key left on the VM by a CLI that died (killed, laptop closed) used to stay
  valid forever: whoever found its private key (left in the CLI's temp dir) got root.
  Now sshd refuses it after a short expiry, and the next session removes expired keys.
- ssh sessions left no trace; now setup and cleanup are events (user, instance; never the key).
- The logs blob stayed in the director's blobstore forever; now the CLI deletes it after
  the download, and only logs blobs can be deleted that way.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import time

import paramiko
import pytest

from bosh_py.ssh.client import PinnedSshClient
from bosh_py.ssh.keys import generate_keypair
from tests.director.live_director import api, one_group_manifest, write_release
from tests.e2e.manifests import write
from tests.harness import BIN, LocalDirector, ensure_stemcell, wait_until

pytestmark = [pytest.mark.vm, pytest.mark.slow]

DEPLOYMENT = "leftovers"


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("namespace VMs need root")
    stemcell = ensure_stemcell()
    root = tmp_path_factory.mktemp("ssh-logs")
    local = LocalDirector(root / "director-ssh-logs")
    try:
        local.start()
        local.cli("upload-stemcell", str(stemcell))
        local.update_cloud_config()
        local.cli("upload-release", str(write_release(root / "plain", "plain", {"idle": {"idle.conf": "idle\n"}})))
        local.cli("deploy", "-n", write(root, one_group_manifest(DEPLOYMENT, "plain", ["idle"])))
        yield local
    finally:
        local.stop()


def instance(director: LocalDirector) -> dict:
    [row] = director.json("instances", "-d", DEPLOYMENT)
    return row


def authorized_keys(director: LocalDirector) -> list[str]:
    """root's authorized_keys on the VM, read over the director's own pinned connection."""
    row = instance(director)
    key = (director.data_dir / "ssh/id_ed25519").read_text()
    with PinnedSshClient(row["ips"][0], key, row["host_public_key"]).connect(timeout=20) as vm:
        return vm.run("cat /root/.ssh/authorized_keys").stdout.splitlines()


def one_time_lines(director: LocalDirector) -> list[str]:
    return [line for line in authorized_keys(director) if line.endswith(" bosh-py-ssh")]


def can_log_in(director: LocalDirector, private_key: str) -> bool:
    row = instance(director)
    client = paramiko.SSHClient()
    host_type, host_blob = row["host_public_key"].split()[:2]
    client.get_host_keys().add(row["ips"][0], host_type,
                               paramiko.PKey.from_type_string(host_type, base64.b64decode(host_blob)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(row["ips"][0], username="root", pkey=paramiko.Ed25519Key.from_private_key(
            io.StringIO(private_key)), allow_agent=False, look_for_keys=False, timeout=10)
        return client.exec_command("true")[1].channel.recv_exit_status() == 0
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()


def test_logs_blob_is_deleted_once_downloaded(director, tmp_path):
    result = director.cli("logs", "-d", DEPLOYMENT, "web/0", "--dir", str(tmp_path))
    blob_id = re.search(r"Downloading resource '([0-9a-f]{32})'", result.stdout).group(1)
    assert list(tmp_path.glob("*.tgz"))
    blobstore = director.data_dir / "blobstore"
    assert not [p for p in blobstore.rglob("*") if p.name == blob_id]
    others = [p for p in blobstore.rglob("*") if p.is_file() and re.fullmatch(r"[0-9a-f]{32}", p.name)]
    assert others  # releases, the rendered templates archive
    with api(director) as client:
        assert client.get(f"/resources/{blob_id}").status_code == 404
        # the deleting endpoint the CLI uses refuses every blob that is not fetched logs
        response = client.delete(f"/resources/{others[0].name}")
        assert response.status_code == 404, response.text
    assert others[0].exists()


def test_ssh_session_is_an_event_and_its_key_is_removed(director):
    result = director.cli("ssh", "-d", DEPLOYMENT, "web/0", "-c", "cat /root/.ssh/authorized_keys")
    [line] = [line for line in result.stdout.splitlines() if line.endswith(" bosh-py-ssh")]
    assert re.match(r'expiry-time="\d{14}Z" ssh-ed25519 ', line), line
    key_blob = line.split()[2]
    assert one_time_lines(director) == []
    with api(director) as client:
        events = client.get("/events", params={"deployment": DEPLOYMENT}).json()
    ssh_events = [e for e in events if e["action"] in ("setup ssh", "cleanup ssh")]
    assert [e["action"] for e in ssh_events] == ["cleanup ssh", "setup ssh"]
    for event in ssh_events:
        assert event["instance"] == instance(director)["instance"] and event["error"] is None
        assert event["context"]["user"] == "admin" and event["context"]["key_fingerprint"].startswith("SHA256:")
    assert key_blob not in json.dumps(events)


def test_key_left_by_a_killed_cli_expires(director, tmp_path):
    # 1. the CLI dies mid-session: its key stays on the VM, but with an expiry of minutes
    cli = subprocess.Popen([str(BIN / "bosh-py"), "ssh", "-d", DEPLOYMENT, "web/0", "-c", "sleep 300"],
                           env={**director.env, "TMPDIR": str(tmp_path)}, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        [left] = wait_until(lambda: one_time_lines(director), timeout=60, interval=0.5, message="the CLI's key")
        wait_until(lambda: list(tmp_path.glob("bosh-py-ssh-*/id")), timeout=30, message="the CLI's key file")
    finally:
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait()
    expiry = time.mktime(time.strptime(re.match(r'expiry-time="(\d{14})Z"', left).group(1), "%Y%m%d%H%M%S"))
    expiry -= time.timezone  # the stamp is UTC; mktime read it as local time
    assert time.time() < expiry <= time.time() + 125
    leftover_key = next(tmp_path.glob("bosh-py-ssh-*/id")).read_text()  # what an attacker would find
    assert can_log_in(director, leftover_key)  # still inside its expiry

    # 2. the same, with an expiry short enough to watch: refused once it has passed
    key = generate_keypair("attacker-found-this")
    with api(director) as client:
        response = client.post(f"/deployments/{DEPLOYMENT}/ssh", json={
            "instance": "web/0", "public_key": key.public_key, "action": "setup", "expires_in": 3})
        assert response.status_code == 200, response.text
        assert can_log_in(director, key.private_key)
        time.sleep(4.5)
        assert not can_log_in(director, key.private_key)

        # 3. the next session sweeps expired one-time keys off the VM
        other = generate_keypair()
        for action in ("setup", "cleanup"):
            assert client.post(f"/deployments/{DEPLOYMENT}/ssh", json={
                "instance": "web/0", "public_key": other.public_key, "action": action}).status_code == 200
    blobs = [line.split()[2] for line in one_time_lines(director)]
    assert key.public_key.split()[1] not in blobs
    assert blobs == [left.split()[2]]  # the killed CLI's key: not expired yet, so still there
