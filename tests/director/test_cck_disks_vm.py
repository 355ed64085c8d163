"""`bosh-py cck` on persistent-disk problems, met the way an operator meets them, against a
real VM on the local CPI with a real disk and through the real CLI:

- mount-info mismatch: someone unmounted /var/vcap/store on the VM; `reattach_disk` and
  `reattach_disk_and_reboot` each mount it again, and the data written before is there;
- inactive disk: a disk row left inactive by a director that died half-way (after the
  mount, before marking it active; or with a second disk made and attached, not mounted);
  `activate_disk` and `delete_disk` (which orphans the disk, detached);
- missing disk: the disk deleted through the CPI behind the director's back;
  `delete_disk_reference`, after which a deploy gives the instance a new disk.

Each checks the problem's type and resource, that a second `cck` finds nothing, and that
the webhook plugin received the cloud check's alerts (scan and resolution) over the health
monitor, with no secret in them. Resurrection is off so the resurrector does not race the
operator through the reboot."""

from __future__ import annotations

import json
import time

import pytest

from bosh_py.director.db import open_database
from bosh_py.director.models import Instance, PersistentDisk
from tests.director.test_cck_vms import cpi_call
from tests.e2e.heal_support import AlertReceiver, director_log
from tests.e2e.manifests import web_manifest, write
from tests.harness import LocalDirector, director_with_stemcell, wait_until

pytestmark = [pytest.mark.vm, pytest.mark.slow]

DEPLOYMENT = "cck-disks"
SECRET = "cck-webhook-s3cret-7f"
INSTANCE = "web/0"
SCAN_SECONDS: list[float] = []  # wall time of each report-only `bosh-py cck` (CLI, task, scan)


@pytest.fixture(scope="module")
def receiver():
    with AlertReceiver() as alerts:
        yield alerts


@pytest.fixture(scope="module")
def director(tmp_path_factory, receiver):
    root = tmp_path_factory.mktemp("cck-disks")
    with director_with_stemcell(root / "director",
                                {"webhook": {"url": receiver.url, "secret": SECRET}}) as local:
        local.upload_testrel()
        local.cli("update-resurrection", "off")
        local.cli("deploy", "-n", write(local.root, web_manifest(DEPLOYMENT, instances=1)))
        yield local


def instance(director: LocalDirector) -> dict:
    (row,) = director.json("instances", "-d", DEPLOYMENT)
    return row


def on_vm(director: LocalDirector, command: str) -> str:
    return director.cli("ssh", "-d", DEPLOYMENT, INSTANCE, "-c", command).stdout


def cck(director: LocalDirector, *resolutions: str) -> list[dict]:
    """`bosh-py cck --json`, reporting (no resolutions) or resolving each TYPE=RESOLUTION."""
    args = [arg for pair in resolutions for arg in ("--resolution", pair)]
    started = time.monotonic()
    result = director.cli("cck", "-d", DEPLOYMENT, *args, "--json", check=False)
    if not resolutions:
        SCAN_SECONDS.append(time.monotonic() - started)
    body = result.stdout[result.stdout.index("\n["):] if "\n[" in result.stdout else "[]"
    problems = json.loads(body)
    unresolved = [p for p in problems if p["resolution"] in (None, "ignore")]
    assert result.returncode == (1 if unresolved else 0), result.stdout + result.stderr
    return problems


def found(problems: list[dict]) -> list[tuple[str, str]]:
    return [(p["type"], p["resource"]) for p in problems]


def edit_db(director: LocalDirector, change) -> None:  # type: ignore[no-untyped-def]
    """Change the director's records the way a director dying half-way leaves them."""
    sessions = open_database(f"sqlite:///{director.data_dir / 'director.db'}")
    try:
        with sessions.begin() as session:
            change(session)
    finally:
        sessions.kw["bind"].dispose()


def alerts_since(receiver: AlertReceiver, seen: int, action: str) -> list[dict]:
    return [a for a in receiver.alerts[seen:] if a.get("action") == action and a.get("deployment") == DEPLOYMENT]


@pytest.mark.parametrize("resolution", ["reattach_disk", "reattach_disk_and_reboot"])
def test_an_unmounted_disk_is_reattached_with_its_data(director, receiver, resolution):
    disk = instance(director)["disk_cids"][0]
    on_vm(director, f"echo {resolution} > /var/vcap/store/marker; touch /tmp/boot-marker")
    on_vm(director, "umount /var/vcap/store")  # behind the director's back
    seen = len(receiver.alerts)
    assert found(cck(director)) == [("mount_info_mismatch", disk)]
    problems = cck(director, f"mount_info_mismatch={resolution}")
    assert [(p["type"], p["resolution"]) for p in problems] == [("mount_info_mismatch", resolution)]
    assert on_vm(director, "cat /var/vcap/store/marker").strip() == resolution
    rebooted = "gone" in on_vm(director, "test -e /tmp/boot-marker && echo kept || echo gone")
    assert rebooted == (resolution == "reattach_disk_and_reboot")
    assert cck(director) == []
    wait_until(lambda: alerts_since(receiver, seen, "cck resolution"), 15, 0.2, "the resolution's alert")
    scans = alerts_since(receiver, seen, "cck problems")
    assert scans and f"mount_info_mismatch {instance(director)['instance']} ({disk})" in scans[0]["summary"]
    (resolved,) = alerts_since(receiver, seen, "cck resolution")
    assert f"resolved with {resolution}" in resolved["summary"] and resolved["source"]


def test_an_inactive_mounted_disk_is_activated(director):
    disk = instance(director)["disk_cids"][0]
    edit_db(director, lambda s: setattr(s.query(PersistentDisk).filter_by(cid=disk).one(), "active", False))
    assert found(cck(director)) == [("inactive_disk", disk)]
    cck(director, "inactive_disk=activate_disk")
    assert cck(director) == []
    assert instance(director)["disk_cids"] == [disk]
    assert on_vm(director, "cat /var/vcap/store/marker").strip() == "reattach_disk_and_reboot"


def test_an_inactive_unmounted_second_disk_is_detached_and_orphaned(director):
    row = instance(director)
    vm_cid, active = row["vm_cid"], row["disk_cids"][0]
    # a director that made and attached a second disk (as a disk migration does) and died
    extra = str(cpi_call(director, "create_disk", 64, {}, vm_cid))
    cpi_call(director, "attach_disk", vm_cid, extra)

    def add_inactive(session) -> None:  # type: ignore[no-untyped-def]
        owner = session.query(Instance).filter_by(vm_cid=vm_cid).one()
        session.add(PersistentDisk(instance_id=owner.id, cid=extra, cpi=owner.cpi, size=64, active=False))

    edit_db(director, add_inactive)
    assert found(cck(director)) == [("inactive_disk", extra)]
    cck(director, "inactive_disk=delete_disk")
    assert cck(director) == []
    orphans = director.json("disks", "--orphaned")
    assert [o["disk_cid"] for o in orphans] == [extra]
    assert extra not in cpi_call(director, "get_disks", vm_cid), "detached before it was orphaned"
    assert instance(director)["disk_cids"] == [active]
    assert on_vm(director, "cat /var/vcap/store/marker").strip() == "reattach_disk_and_reboot"


def test_a_disk_the_iaas_lost_is_forgotten_and_the_next_deploy_makes_a_new_one(director):
    row = instance(director)
    vm_cid, disk = row["vm_cid"], row["disk_cids"][0]
    cpi_call(director, "detach_disk", vm_cid, disk)  # behind the director's back
    cpi_call(director, "delete_disk", disk)
    assert found(cck(director)) == [("missing_disk", disk)]
    cck(director, "missing_disk=delete_disk_reference")
    assert cck(director) == []
    assert instance(director)["disk_cids"] == []
    director.cli("deploy", "-n", write(director.root, web_manifest(DEPLOYMENT, instances=1)))
    (new_disk,) = instance(director)["disk_cids"]
    assert new_disk != disk
    on_vm(director, "echo fresh > /var/vcap/store/marker")
    assert on_vm(director, "cat /var/vcap/store/marker").strip() == "fresh"
    assert cck(director) == []


def test_no_secret_reaches_the_alerts_or_the_log(director, receiver):
    if SCAN_SECONDS:
        ordered = sorted(SCAN_SECONDS)
        print(f"\ncck scan (1 instance, 1 disk): {len(ordered)} runs, median {ordered[len(ordered) // 2]:.2f}s, "
              f"max {ordered[-1]:.2f}s")
    assert receiver.alerts, "the cloud checks above sent alerts"
    delivered = json.dumps(receiver.alerts) + json.dumps(receiver.headers)
    assert SECRET not in delivered
    assert SECRET not in director_log(director)
    secrets = json.loads((director.data_dir / "secrets.json").read_text())
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 8:
            assert value not in delivered
