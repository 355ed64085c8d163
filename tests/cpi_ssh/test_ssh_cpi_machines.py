"""The ssh CPI executable against real machines (namespace VMs with plain sshd made by the
local CPI, standing in for an operator's): adopting a free machine, refusing a machine whose
host key differs from the pinned one (by name), refusing bad config with the key at fault,
disks as directories that outlive the VM, and delete_vm stopping every process started
from /var/vcap, wiping it and freeing the machine while sshd keeps answering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bosh_py.ssh.keys import generate_keypair
from tests.cpi_ssh.machines import (
    LEFT_IN_VCAP,
    SSH_CPI,
    Machine,
    MachineMaker,
    cpi_call,
    cpi_ok,
    operator_ssh,
)

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def machines(machine_maker: MachineMaker) -> list[Machine]:
    return [machine_maker.make("m1", 21), machine_maker.make("m2", 22)]


@pytest.fixture
def config(tmp_path: Path, machines: list[Machine], machine_maker: MachineMaker) -> Iterator[Path]:
    """An ssh CPI config listing the machines; any VM a test left is deleted through the CPI."""
    path = tmp_path / "ssh-cpi.json"
    path.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "disk_root": "/var/lib/test-disks",
                                "machines": [m.config_entry(machine_maker.operator_key) for m in machines]}))
    yield path
    state = tmp_path / "state" / "state.json"
    for cid in json.loads(state.read_text())["vms"] if state.exists() else []:
        cpi_call(SSH_CPI, path, "delete_vm", cid)


def networks(ip: str) -> dict:
    return {"default": {"type": "manual", "ip": ip, "netmask": "255.255.255.0", "gateway": ip.rsplit(".", 1)[0] + ".1",
                        "cloud_properties": {}}}


def director_env() -> dict:
    return {"bosh": {"authorized_keys": [generate_keypair("bosh-py-director").public_key]}}


def test_adopts_the_machine_at_the_ip_and_delete_vm_leaves_it_running_and_clean(
        config: Path, machines: list[Machine], machine_maker: MachineMaker) -> None:
    m1 = machines[0]
    key = machine_maker.operator_key
    stemcell = cpi_ok(SSH_CPI, config, "create_stemcell", "/nonexistent/image", {})
    assert cpi_ok(SSH_CPI, config, "info")["stemcell_formats"] == ["local-rootfs", "ssh-machine"]
    env = director_env()
    cid, returned, extra = cpi_ok(SSH_CPI, config, "create_vm", "agent-1", stemcell, {}, networks(m1.address), [], env)
    assert returned == networks(m1.address)
    assert extra == {"host_public_key": m1.host_key.public_key}  # the director pins the machine's own key
    assert cpi_ok(SSH_CPI, config, "has_vm", cid) is True
    _, keys = operator_ssh(m1, key, "cat /root/.ssh/authorized_keys")
    assert env["bosh"]["authorized_keys"][0].split()[1] in keys and key.public_key.split()[1] in keys

    # a second VM for the same machine is refused, naming it
    second = cpi_call(SSH_CPI, config, "create_vm", "agent-2", stemcell, {}, networks(m1.address), [], env)
    assert second["error"]["type"] == "VMCreationFailed"
    assert f"machine 'm1' ({m1.address}:22) already holds VM {cid}" in second["error"]["message"]

    # what the director's bootstrap and the agent would leave: an agent loop, a job process
    # (one with the agent's mark, one daemon found by its pidfile), a disk mounted in /var/vcap/store
    disk = cpi_ok(SSH_CPI, config, "create_disk", 64, {}, cid)
    hint = cpi_ok(SSH_CPI, config, "attach_disk", cid, disk)
    assert hint == f"/var/lib/test-disks/{disk}"
    assert cpi_ok(SSH_CPI, config, "get_disks", cid) == [disk]
    status, _ = operator_ssh(m1, key, f"""set -e
        mkdir -p /var/vcap/bosh /var/vcap/store /var/vcap/sys/run/job /var/vcap/data
        printf '#!/bin/sh\\n# Written by the bosh-py director\\n' > /etc/rc.local
        cp /bin/sleep /var/vcap/data/agent-sleep
        setsid sh -c 'while :; do /var/vcap/data/agent-sleep 1000; sleep 1; done' >/dev/null 2>&1 < /dev/null &
        BOSH_PY_PROCESS=job/web setsid sleep 1001 >/dev/null 2>&1 < /dev/null &
        setsid sleep 1002 >/dev/null 2>&1 < /dev/null & echo $! > /var/vcap/sys/run/job/daemon.pid
        mount --bind {hint} /var/vcap/store
        echo persistent > /var/vcap/store/data""")
    assert status == 0
    _, before = operator_ssh(m1, key, "ps -eo args")
    assert "agent-sleep 1000" in before and "sleep 1001" in before and "sleep 1002" in before

    assert cpi_ok(SSH_CPI, config, "delete_vm", cid) is None
    assert cpi_ok(SSH_CPI, config, "has_vm", cid) is False
    _, processes = operator_ssh(m1, key, "ps -eo args")
    assert "sleep 100" not in processes and "sshd" in processes  # the machine keeps running
    _, after = operator_ssh(m1, key, f"{LEFT_IN_VCAP} && echo VCAP-LEFT; "
                                     "test -e /etc/rc.local && echo RC-LEFT; cat /root/.ssh/authorized_keys; "
                                     f"cat {hint}/data")
    assert "VCAP-LEFT" not in after and "RC-LEFT" not in after
    assert env["bosh"]["authorized_keys"][0].split()[1] not in after  # the director's key is gone
    assert key.public_key.split()[1] in after  # the operator's own key stays
    assert "persistent" in after  # the disk outlives the VM: it was unmounted, not wiped

    # freed: it can be adopted again, and the disk comes back with it
    again, _, _ = cpi_ok(SSH_CPI, config, "create_vm", "agent-3", stemcell, {}, networks(m1.address), [disk], env)
    assert cpi_ok(SSH_CPI, config, "get_disks", again) == [disk]
    cpi_ok(SSH_CPI, config, "detach_disk", again, disk)
    cpi_ok(SSH_CPI, config, "delete_vm", again)
    cpi_ok(SSH_CPI, config, "delete_disk", disk)
    _, gone = operator_ssh(m1, key, f"test -e {hint} && echo DISK-LEFT; true")
    assert "DISK-LEFT" not in gone


def test_keeps_an_operators_own_rc_local(config: Path, machines: list[Machine], machine_maker: MachineMaker) -> None:
    m2, key = machines[1], machine_maker.operator_key
    operator_ssh(m2, key, "printf '#!/bin/sh\\necho operator\\n' > /etc/rc.local")
    stemcell = cpi_ok(SSH_CPI, config, "create_stemcell", "/x", {})
    cid, _, _ = cpi_ok(SSH_CPI, config, "create_vm", "a", stemcell, {}, networks(m2.address), [], director_env())
    # the director's bootstrap then writes its own rc.local
    operator_ssh(m2, key, "printf '#!/bin/sh\\n# Written by the bosh-py director\\n' > /etc/rc.local")
    cpi_ok(SSH_CPI, config, "delete_vm", cid)
    _, rc_local = operator_ssh(m2, key, "cat /etc/rc.local; rm /etc/rc.local")
    assert rc_local == "#!/bin/sh\necho operator\n"


def test_a_machine_whose_host_key_differs_is_refused_by_name(
        tmp_path: Path, machines: list[Machine], machine_maker: MachineMaker) -> None:
    m2 = machines[1]
    entry = m2.config_entry(machine_maker.operator_key)
    entry["host_key"] = generate_keypair("impostor").public_key  # what the operator pinned is not what answers
    path = tmp_path / "ssh-cpi.json"
    path.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "machines": [entry]}))
    stemcell = cpi_ok(SSH_CPI, path, "create_stemcell", "/x", {})
    refused = cpi_call(SSH_CPI, path, "create_vm", "a", stemcell, {}, networks(m2.address), [], director_env())
    assert refused["error"]["type"] == "VMCreationFailed"
    message = refused["error"]["message"]
    assert f"machine 'm2' ({m2.address}:22): host key does not match the pinned key" in message
    assert machine_maker.operator_key.private_key.splitlines()[1] not in json.dumps(refused)
    assert cpi_ok(SSH_CPI, path, "has_vm", "anything") is False
    assert json.loads((tmp_path / "state" / "state.json").read_text())["vms"] == {}  # freed again
    _, keys = operator_ssh(m2, machine_maker.operator_key, "cat /root/.ssh/authorized_keys")
    assert "bosh-py-ssh-cpi" not in keys  # nothing was done to the machine


def test_no_machine_at_the_ip_names_the_ones_listed(config: Path, machines: list[Machine]) -> None:
    stemcell = cpi_ok(SSH_CPI, config, "create_stemcell", "/x", {})
    refused = cpi_call(SSH_CPI, config, "create_vm", "a", stemcell, {}, networks("10.246.99.99"), [], director_env())
    assert refused["error"]["type"] == "VMCreationFailed"
    assert "no machine at 10.246.99.99 in the ssh CPI config (machines: m1 (" in refused["error"]["message"]


def test_reboot_is_refused_clearly(config: Path) -> None:
    refused = cpi_call(SSH_CPI, config, "reboot_vm", "vm-x")
    assert refused["error"]["type"] == "NotImplemented"
    assert "does not reboot the operator's machines" in refused["error"]["message"]


def test_concurrent_calls_never_adopt_one_machine_twice(config: Path, machines: list[Machine]) -> None:
    m2 = machines[1]
    stemcell = cpi_ok(SSH_CPI, config, "create_stemcell", "/x", {})

    def adopt(agent: str) -> dict:
        return cpi_call(SSH_CPI, config, "create_vm", agent, stemcell, {}, networks(m2.address), [], director_env())

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(adopt, ["a", "b", "c", "d"]))
    adopted = [a["result"][0] for a in answers if a["error"] is None]
    assert len(adopted) == 1, answers
    assert all("machine 'm2'" in a["error"]["message"] and "already holds VM" in a["error"]["message"]
               for a in answers if a["error"] is not None)
    cpi_ok(SSH_CPI, config, "delete_vm", adopted[0])
