"""Machines the operator already has, through the ssh CPI, end to end as a user drives it:
four namespace VMs with plain sshd (made by the local CPI executable, outside the director,
on this run's bridge) stand in for them; deployments/cpi-config-ssh.yml (filled with -l) points the
director at them and deployments/cloud-config-ssh.yml hands out only their addresses;
deployments/nats.yml deploys onto them (its compilation VM adopted and wiped in between),
a redeploy changes nothing, and delete-deployment leaves every machine running and clean
(no agent, no job process, nothing bosh-py put in /var/vcap, sshd answering).

On the same deployment, `bosh-py ssh -c` on a group runs on every instance in parallel with
prefixed output and a failing exit code naming the instance that failed, and `bosh-py scp`
uploads to and downloads from every instance."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cpi_configs import write_yaml
from tests.cpi_ssh.machines import (
    LEFT_IN_VCAP,
    LOCAL_CPI,
    SSH_CPI,
    Machine,
    MachineMaker,
    cpi_ok,
    operator_ssh,
    unpack_stemcell_image,
)
from tests.e2e.cross_cpi_support import stemcell_identity, write_private_yaml
from tests.harness import (
    REPO,
    TEST_BRIDGE,
    TEST_GATEWAY,
    TEST_NET,
    TEST_SUBNET,
    LocalDirector,
)

pytestmark = [pytest.mark.vm, pytest.mark.slow]

MACHINE_HOSTS = (251, 252, 253, 254)  # the end of the harness bridge's last /26, left free for other CPIs
MACHINES_PREFIX = "sm" + chr(ord("a") + TEST_NET)  # netns/veth names apart from the director's own CPI


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, stemcell: Path) -> Iterator[tuple[LocalDirector, MachineMaker, Path]]:
    """A director, and the operator's machines on its bridge: made, and at the end removed,
    by a local CPI of their own (never by the director)."""
    root = tmp_path_factory.mktemp("ssh-cpi-e2e")
    director = LocalDirector(root / "director")
    machines_config = root / "machines-local-cpi.json"
    machines_config.write_text(json.dumps({"root": str(root / "machines"), "bridge": TEST_BRIDGE,
                                           "prefix": MACHINES_PREFIX, "boot_timeout": 30}))
    maker: MachineMaker | None = None
    try:
        director.start()
        image = unpack_stemcell_image(stemcell, root)
        stemcell_cid = cpi_ok(LOCAL_CPI, machines_config, "create_stemcell", str(image), {})
        image.unlink()
        maker = MachineMaker(machines_config, stemcell_cid, TEST_SUBNET)
        for number, host in enumerate(MACHINE_HOSTS, start=1):
            maker.make(f"machine-{number}", host)
        yield director, maker, root
    finally:
        try:
            director.stop()
        finally:
            if maker is not None:
                maker.remove_all()
            subprocess.run([str(LOCAL_CPI), "cleanup", "--purge", str(machines_config)],
                           capture_output=True, text=True, timeout=300, check=False)


def ssh_cpi_listing(director: LocalDirector) -> dict:
    """What the ssh CPI itself records, from the config file the director wrote for it."""
    done = subprocess.run([str(SSH_CPI), "list", str(director.data_dir / "cpis" / "machines.json")],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def network_vars() -> dict:
    return {"ssh_cidr": f"{TEST_SUBNET}.0/24", "ssh_gateway": TEST_GATEWAY,
            "ssh_reserved": f"{TEST_SUBNET}.2 - {TEST_SUBNET}.{MACHINE_HOSTS[0] - 1}"}


def assert_clean(machine: Machine, maker: MachineMaker) -> None:
    """Running, reachable, and holding nothing of bosh-py's."""
    status, processes = operator_ssh(machine, maker.operator_key, "ps -eo args")
    assert status == 0 and "sshd" in processes
    assert "agent.pyz" not in processes and "nats-server" not in processes, processes
    _, left = operator_ssh(machine, maker.operator_key,
                           f"{LEFT_IN_VCAP}; test -e /etc/rc.local && echo rc.local; cat /root/.ssh/authorized_keys")
    assert "/var/vcap" not in left and "rc.local" not in left, left
    assert "bosh-py" not in left.replace(maker.operator_key.public_key, ""), left  # only the operator's key


def test_nats_on_the_operators_machines(setup: tuple[LocalDirector, MachineMaker, Path], stemcell: Path,
                                        tmp_path: Path) -> None:
    director, maker, _root = setup
    machines = {m.address: m for m in maker.made}
    subprocess.run([str(REPO / "scripts/prepare-release-blobs")], check=True, capture_output=True)

    # the operator's files, filled in with -l as a user would
    machines_vars = write_private_yaml(tmp_path / "machines.yml", {"ssh_machines": [
        {**m.config_entry(maker.operator_key), "port": 22} for m in maker.made]})
    with open(REPO / "deployments/cpi-config-ssh.yml") as example:
        cpi_config = yaml.safe_load(example)
    cpi_config["cpis"][0]["properties"].update({"state_dir": str(tmp_path / "ssh-cpi-state")})
    director.cli("update-cpi-config", str(write_yaml(tmp_path / "cpi-config.yml", cpi_config)),
                 "-l", str(machines_vars))
    shown = director.cli("cpi-config").stdout
    assert "machine-1" in shown and maker.operator_key.private_key.splitlines()[1] not in shown
    assert {row["name"]: (row["type"], row["stemcell_formats"]) for row in director.json("cpis")} == {
        "machines": ("ssh", ["local-rootfs", "ssh-machine"])}
    director.cli("update-cloud-config", str(REPO / "deployments/cloud-config-ssh.yml"),
                 "-l", str(write_yaml(tmp_path / "ssh-network.yml", network_vars())))
    director.cli("upload-stemcell", str(stemcell))
    assert [row["cpi"] for row in director.json("stemcells")] == ["machines"]
    assert stemcell_identity(stemcell)["name"] in director.cli("stemcells").stdout
    director.cli("upload-release", str(REPO / "releases/nats"))

    started = time.monotonic()
    director.cli("deploy", "-n", str(REPO / "deployments/nats.yml"))
    print(f"deploy of nats.yml on 3 existing machines: {time.monotonic() - started:.1f}s")
    rows = director.json("instances", "-d", "nats", "--ps")
    assert len(rows) == 3 and {row["process_state"] for row in rows} == {"running"}, rows
    for row in rows:  # each VM is a machine, its host key the one the operator pinned
        machine = machines[row["ips"][0]]
        assert row["host_public_key"] == machine.host_key.public_key
    listing = ssh_cpi_listing(director)
    held = {m["address"]: m["vm"] for m in listing["machines"]}
    assert {row["ips"][0]: row["vm_cid"] for row in rows} == {ip: vm for ip, vm in held.items() if vm}
    spare = machines[next(ip for ip, vm in held.items() if vm is None)]
    assert_clean(spare, maker)  # the compilation VM's machine, wiped and freed again

    # a redeploy changes nothing: same VMs, same machines
    redeploy = director.cli("deploy", "-n", str(REPO / "deployments/nats.yml"))
    assert "Updating instance" not in redeploy.stdout and "Compiling" not in redeploy.stdout, redeploy.stdout
    assert [(r["id"], r["vm_cid"], r["agent_id"]) for r in director.json("instances", "-d", "nats")] == \
        [(r["id"], r["vm_cid"], r["agent_id"]) for r in rows]
    assert ssh_cpi_listing(director)["machines"] == listing["machines"]

    check_ssh_and_scp(director, maker, rows, tmp_path)

    # gone from the deployment, the machines keep running, clean; their disks orphaned, then deleted
    director.cli("delete-deployment", "-d", "nats", "-n")
    assert [m["vm"] for m in ssh_cpi_listing(director)["machines"]] == [None] * len(MACHINE_HOSTS)
    for machine in maker.made:
        assert_clean(machine, maker)
    orphans = director.json("disks", "--orphaned")
    assert sorted(d["disk_cid"] for d in orphans) == sorted(c for r in rows for c in r["disk_cids"])
    for disk in orphans:
        director.cli("delete-disk", "-n", disk["disk_cid"])
    assert ssh_cpi_listing(director)["disks"] == {}
    for machine in maker.made:
        _, disks = operator_ssh(machine, maker.operator_key, "ls -A /var/lib/bosh-py-ssh-cpi/disks")
        assert disks == ""

    # the machines' private key never reaches a task log, not even the debug one
    key_line = maker.operator_key.private_key.splitlines()[1]
    for task in director.json("tasks", "--recent", "100"):
        assert key_line not in director.cli("task", str(task["id"]), "--debug").stdout


def check_ssh_and_scp(director: LocalDirector, maker: MachineMaker, rows: list[dict], tmp_path: Path) -> None:
    names = {f"nats/{row['id']}": row for row in rows}
    by_index = {row["index"]: f"nats/{row['id']}" for row in rows}

    # on every instance of the group, in parallel, each line prefixed with its instance
    index_of = "python3 -c \"import json; print('index', json.load(open('/var/vcap/bosh/spec.json'))['index'])\""
    ran = director.cli("ssh", "-d", "nats", "nats", "-c", f"{index_of}; echo second line")
    for name, row in names.items():
        assert f"{name}: index {row['index']}" in ran.stdout.splitlines()
        assert f"{name}: second line" in ran.stdout.splitlines()
    assert "Succeeded on 3 of 3 instance(s)" in ran.stdout

    # one instance failing: exit code 1, the failure named, the others still ran
    failing = ("python3 -c \"import json,sys; i=json.load(open('/var/vcap/bosh/spec.json'))['index']; "
               "print('index', i); sys.exit(7 if i == 1 else 0)\"")
    failed = director.cli("ssh", "-d", "nats", "nats", "-c", failing, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"{by_index[1]}: exit status 7" in failed.stdout
    assert "Succeeded on 2 of 3 instance(s); failed on 1" in failed.stdout
    for index, name in by_index.items():
        assert f"{name}: index {index}" in failed.stdout

    # an interactive shell needs one instance: refused for a group of three, saying what to give
    refused = director.cli("ssh", "-d", "nats", "nats", check=False)
    assert refused.returncode == 1
    assert "'nats' has 3 instances: an interactive shell needs one" in refused.stdout + refused.stderr

    # one instance by GROUP/INDEX: the command's own output, as before
    single = director.cli("ssh", "-d", "nats", "nats/2", "-c", "cat /var/vcap/bosh/spec.json")
    assert json.loads(single.stdout)["index"] == 2

    # scp up to every instance, and down from every instance into one directory each
    local = tmp_path / "note.txt"
    local.write_text("from the operator\n")
    director.cli("scp", "-d", "nats", str(local), "nats:/tmp/note.txt")
    seen = director.cli("ssh", "-d", "nats", "nats", "-c", "cat /tmp/note.txt").stdout
    assert all(f"{name}: from the operator" in seen.splitlines() for name in names)
    downloads = tmp_path / "specs"
    director.cli("scp", "-d", "nats", "nats:/var/vcap/bosh/spec.json", str(downloads))
    for name, row in names.items():
        spec = json.loads((downloads / name.replace("/", ".") / "spec.json").read_text())
        assert spec["index"] == row["index"]
    one = director.cli("scp", "-d", "nats", f"{by_index[0]}:/tmp/note.txt", str(tmp_path / "one.txt"))
    assert (tmp_path / "one.txt").read_text() == "from the operator\n", one.stdout
    both_remote = director.cli("scp", "-d", "nats", "nats:/a", "nats:/b", check=False)
    assert both_remote.returncode == 1 and "exactly one of SRC and DST" in both_remote.stderr + both_remote.stdout

    # the one-time keys are gone again from every machine
    for machine in maker.made:
        _, keys = operator_ssh(machine, maker.operator_key, "cat /root/.ssh/authorized_keys")
        assert " bosh-py-ssh\n" not in keys, keys
