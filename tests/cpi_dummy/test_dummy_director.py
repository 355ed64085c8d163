"""A real director, the real CLI and real agents on the dummy CPI: deploy, redeploy, scale
down, a CPI failure, delete. Tests run in file order on one director, like one
deployment's life; every step checks the agents' processes, not just the director's view."""

from __future__ import annotations

import os
from pathlib import Path

from tests.director.dummy_support import DummyDirector
from tests.harness import wait_until


def _instances(d: DummyDirector) -> list[dict]:
    return d.json("instances", "-d", "dummy")


def _alive_pids(d: DummyDirector) -> dict[str, int]:
    return {cid: vm["pid"] for cid, vm in d.vms().items() if vm["alive"]}


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _job_pids(d: DummyDirector, cid: str) -> list[int]:
    run = d.state_dir / "vms" / cid / "var/vcap/data/sys/run"
    pids = []
    for pid_file in run.glob("*/*.pid") if run.exists() else []:
        try:
            pids.append(int(pid_file.read_text()))
        except ValueError:
            pass
    return pids


def test_deploy_three_instances(dummy_director: DummyDirector):
    d = dummy_director
    d.cli("deploy", "-n", str(d.manifest(instances=3)))
    vms = _alive_pids(d)
    assert len(vms) == 3
    rows = _instances(d)
    assert len(rows) == 3 and {row["process_state"] for row in rows} == {"running"}, rows
    for cid in vms:
        conf = d.state_dir / "vms" / cid / "var/vcap/jobs/looper/config/looper.conf"
        assert conf.read_text() == "greeting=hello\n"
        pids = wait_until(lambda cid=cid: _job_pids(d, cid), message=f"job process of {cid}")
        assert all(_pid_alive(pid) for pid in pids)


def test_redeploy_with_new_property_keeps_the_vms(dummy_director: DummyDirector):
    d = dummy_director
    before = _alive_pids(d)
    d.cli("deploy", "-n", str(d.manifest(instances=3, greeting="bonjour")))
    assert _alive_pids(d) == before
    for cid in before:
        conf = d.state_dir / "vms" / cid / "var/vcap/jobs/looper/config/looper.conf"
        assert conf.read_text() == "greeting=bonjour\n"


def test_scale_down_deletes_vms_and_their_processes(dummy_director: DummyDirector):
    d = dummy_director
    before = _alive_pids(d)
    job_pids = {cid: _job_pids(d, cid) for cid in before}
    d.cli("deploy", "-n", str(d.manifest(instances=1, greeting="bonjour")))
    after = _alive_pids(d)
    assert len(after) == 1 and set(after) < set(before)
    assert len(d.vms()) == 1
    for cid in set(before) - set(after):
        assert not (d.state_dir / "vms" / cid).exists()
        assert not _pid_alive(before[cid]), f"agent of deleted VM {cid} still runs"
        assert not any(_pid_alive(pid) for pid in job_pids[cid]), f"job of deleted VM {cid} still runs"
    assert len(_instances(d)) == 1


def test_injected_create_vm_failure_fails_the_task_with_its_type_and_leaves_no_orphan(
        dummy_director: DummyDirector):
    d = dummy_director
    before = _alive_pids(d)
    d.fail_next("create_vm", "VMCreationFailed", times=None, message="no capacity in z2")
    try:
        result = d.cli("deploy", "-n", str(d.manifest(instances=2, greeting="bonjour")), check=False)
    finally:
        (d.state_dir / "failures.json").unlink()
    assert result.returncode != 0
    assert "CPI 'create_vm' failed: VMCreationFailed: no capacity in z2" in result.stdout + result.stderr
    assert set(d.vms()) == set(before) and _alive_pids(d) == before
    assert sorted(p.name for p in (d.state_dir / "vms").iterdir()) == sorted(before)


def test_injected_bootstrap_failure_deletes_the_vm_it_made(dummy_director: DummyDirector):
    d = dummy_director
    before = _alive_pids(d)
    d.fail_next("bootstrap_agent", "CloudError", times=None, message="agent would not start")
    try:
        result = d.cli("deploy", "-n", str(d.manifest(instances=2, greeting="bonjour")), check=False)
    finally:
        (d.state_dir / "failures.json").unlink()
    assert result.returncode != 0
    assert "CloudError: agent would not start" in result.stdout + result.stderr
    assert set(d.vms()) == set(before)


def test_delete_deployment_stops_every_agent_and_job(dummy_director: DummyDirector):
    d = dummy_director
    before = _alive_pids(d)
    job_pids = [pid for cid in before for pid in _job_pids(d, cid)]
    assert job_pids
    d.cli("delete-deployment", "-d", "dummy", "-n")
    assert d.vms() == {}
    assert not any(_pid_alive(pid) for pid in [*before.values(), *job_pids])
    assert list((d.state_dir / "vms").iterdir()) == []
    assert os.path.isdir(d.state_dir / "disks")


def test_persistent_disk_is_linked_at_store_and_survives_recreate(dummy_director: DummyDirector):
    d = dummy_director
    d.cli("deploy", "-n", str(d.manifest(instances=1, persistent_disk=64)))
    [(cid, vm)] = d.vms().items()
    assert len(vm["disks"]) == 1
    store = d.state_dir / "vms" / cid / "var/vcap/store"
    assert store.is_symlink()  # BOSH_PY_AGENT_DISK_MODE=link: no mount(2) on the host
    (store / "kept.txt").write_text("kept\n")
    d.cli("recreate", "-d", "dummy", "-n")
    [(new_cid, new_vm)] = d.vms().items()
    assert new_cid != cid and new_vm["disks"] == vm["disks"]
    assert (d.state_dir / "vms" / new_cid / "var/vcap/store/kept.txt").read_text() == "kept\n"
    d.cli("delete-deployment", "-d", "dummy", "-n")
    assert d.vms() == {}


def test_cpi_config_can_name_a_dummy_cpi_by_type(dummy_director: DummyDirector):
    """Last: a cpi-config in force replaces the director's own CPI for new VMs."""
    d = dummy_director
    state = d.root / "second-dummy"
    cpi_config = d.root / "cpi-config.yml"
    cpi_config.write_text(f"cpis:\n- name: second\n  type: dummy\n  properties:\n    state_dir: {state}\n")
    d.cli("update-cpi-config", str(cpi_config))
    rows = d.json("cpis")
    row = next(r for r in rows if r["name"] == "second")
    assert row["type"] == "dummy" and "dummy" in row["stemcell_formats"], rows
