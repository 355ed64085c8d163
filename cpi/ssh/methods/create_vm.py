"""create_vm(agent_id, stemcell_cid, cloud_properties, networks, disk_cids, env): adopt the
machine whose address is the IP the director's network gave this VM.

The machine is reserved in the state under the lock first (two concurrent calls never adopt
one machine), then prepared over SSH: its /var/vcap must be absent or empty, the director's
keys (env.bosh.authorized_keys) go into root's authorized_keys, an rc.local of the operator's
is kept aside. The director then installs the agent as on any VM, pinning the machine's own
host key, which this CPI returns (from its config) as ``[cid, networks, {"host_public_key"}]``:
an existing machine keeps its identity instead of taking the key the director generated.
Any failure frees the machine again and reports VMCreationFailed naming it.
"""

from __future__ import annotations

from typing import Any

from bosh_py.errors import BoshPyError
from bosh_py.ssh.bootstrap import checked_public_key
from cpi.protocol import CpiFailure, VMCreationFailed
from cpi.ssh import machine_scripts
from cpi.ssh.context import Context
from cpi.ssh.remote import describe, run_program
from cpi.ssh.state import VmRecord, locked_state, new_id


def _ip(networks: Any) -> str:
    if isinstance(networks, dict):
        for settings in networks.values():
            if isinstance(settings, dict) and settings.get("ip"):
                return str(settings["ip"])
    raise VMCreationFailed("the ssh CPI needs a manual network with an IP: it adopts the machine at that address")


def _director_keys(env: Any) -> list[str]:
    keys = ((env or {}).get("bosh") or {}).get("authorized_keys") or []
    if not isinstance(keys, list):
        raise VMCreationFailed("env.bosh.authorized_keys: expected a list of public keys")
    lines = []
    for key in keys:
        try:
            key_type, blob = checked_public_key(str(key))
        except BoshPyError as error:
            raise VMCreationFailed(f"env.bosh.authorized_keys: {error}") from error
        lines.append(f"{key_type} {blob} {machine_scripts.DIRECTOR_KEY_COMMENT}")
    return lines


def run(ctx: Context, agent_id: str, stemcell_cid: str, cloud_properties: dict | None,
        networks: dict, disk_cids: list | None = None, env: dict | None = None) -> list[Any]:
    config = ctx.config
    ip = _ip(networks)
    machine = next((m for m in config.machines if m.address == ip), None)
    if machine is None:
        listed = ", ".join(f"{m.name} ({m.address})" for m in config.machines)
        raise VMCreationFailed(f"no machine at {ip} in the ssh CPI config (machines: {listed}); the "
                               f"cloud-config network must hand out only the machines' addresses")
    authorized = _director_keys(env)
    cid = new_id("vm")
    with locked_state(config.state_dir) as state:
        if stemcell_cid not in state.stemcells:
            raise VMCreationFailed(f"stemcell {stemcell_cid} not found")
        holder = state.vm_on(machine.name)
        if holder is not None:
            raise VMCreationFailed(f"{describe(machine)} already holds VM {holder}")
        for disk_cid in disk_cids or []:
            disk = state.disks.get(disk_cid)
            if disk is None or disk.machine != machine.name:
                raise VMCreationFailed(f"disk {disk_cid} is not on {describe(machine)}")
        state.vms[cid] = VmRecord(machine.name, str(agent_id), authorized)
    try:
        run_program(machine, "adopt", {"vm_cid": cid, "authorized_keys": authorized, "disk_root": config.disk_root})
    except CpiFailure as error:
        with locked_state(config.state_dir) as state:
            state.vms.pop(cid, None)
        raise VMCreationFailed(f"cannot adopt {describe(machine)}: {error}".replace(
            f": {describe(machine)}: ", ": ")) from error
    with locked_state(config.state_dir) as state:
        state.vms[cid].state = "adopted"
        for disk_cid in disk_cids or []:
            state.disks[disk_cid].vm = cid
    ctx.log(f"VM {cid} is {describe(machine)}")
    return [cid, networks, {"host_public_key": machine.host_key}]
