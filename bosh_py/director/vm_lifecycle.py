"""Creating and deleting VMs through the CPI, and putting an agent on each new one.

A VM is only recorded once its agent answers; if anything fails on the way, the VM and the
agent's NATS user are removed again, so a failed create leaves no orphan behind. In case the
director itself dies on the way, an intent is written before the CPI is asked and the cid
as soon as it answers (orphan_vms.py), so `bosh-py cck` can find and delete that VM.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Callable

from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.concurrency import in_vm_thread
from bosh_py.director.cpi_client import CpiError, VMNotFound
from bosh_py.director.models import DEFAULT_CPI
from bosh_py.director.orphan_vms import forget, record_cid, record_intent
from bosh_py.director.secrets import new_password
from bosh_py.director.services import Director
from bosh_py.ssh.bootstrap import install_agent
from bosh_py.ssh.client import PinnedSshClient
from bosh_py.ssh.keys import generate_keypair


@dataclass
class VmRequest:
    stemcell_cid: str
    cloud_properties: dict
    networks: dict  # CPI network settings, keyed by network name
    env: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    cpi: str = DEFAULT_CPI  # the CPI that makes it (the AZ's); stemcell_cid is that CPI's copy


@dataclass
class CreatedVm:
    cid: str
    agent_id: str
    host_public_key: str
    ip: str
    cpi: str


def primary_ip(networks: dict) -> str:
    for settings in networks.values():
        if settings.get("ip"):
            return settings["ip"]
    raise ValueError("no network with an IP")


def deep_merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _bootstrap(director: Director, ip: str, host_public_key: str, settings: dict) -> None:
    with PinnedSshClient(ip, director.ssh_key.private_key, host_public_key).connect(timeout=30) as ssh:
        install_agent(ssh, director.agent_bundle, settings)


def _cpi_starts_agent(result: Any) -> bool:
    """A CPI whose VMs have no sshd (cpi/dummy) answers ``[cid, networks,
    {"agent_bootstrap": "cpi"}]`` and is handed the agent settings by ``bootstrap_agent``."""
    extra = result[2] if isinstance(result, list) and len(result) > 2 else None
    return isinstance(extra, dict) and extra.get("agent_bootstrap") == "cpi"


def _machine_host_key(result: Any) -> str | None:
    """A CPI that adopts an existing machine (cpi/ssh) cannot give it the host key the director
    made: it answers ``[cid, networks, {"host_public_key": ...}]`` with the key pinned in its
    own config, and that key is pinned instead. Other CPIs answer ``[cid, networks]``."""
    extra = result[2] if isinstance(result, list) and len(result) > 2 else None
    key = extra.get("host_public_key") if isinstance(extra, dict) else None
    return key if isinstance(key, str) and key.strip() else None


async def create_vm(director: Director, request: VmRequest, debug: Callable[[str], None]) -> CreatedVm:
    agent_id = uuid.uuid4().hex
    password = new_password()
    host_key = generate_keypair(f"bosh-py-host-{agent_id[:8]}")
    env = deep_merge(request.env, {"bosh": {
        "authorized_keys": [director.ssh_key.public_key],
        "host_key": host_key.as_env(),
    }})
    cpi = director.cpi(debug, request.cpi)
    vm_cid: str | None = None
    _record(director, lambda session: record_intent(
        session, agent_id, request.cpi, _ip_or_none(request.networks), request.metadata.get("deployment"),
        request.metadata.get("name")))
    try:
        await director.access.add_agent(agent_id, password)
        call = asyncio.ensure_future(cpi.call("create_vm", agent_id, request.stemcell_cid,
                                              request.cloud_properties, request.networks, [], env))
        try:
            result: Any = await asyncio.shield(call)
        except asyncio.CancelledError:
            # the CPI is still making the VM: wait for its cid so the undo below deletes it
            with suppress(BaseException):
                finished = await call
                vm_cid = finished[0] if isinstance(finished, list) else finished
            raise
        vm_cid = result[0] if isinstance(result, list) else result
        _record(director, lambda session: record_cid(session, agent_id, str(vm_cid)))
        host_public_key = _machine_host_key(result) or host_key.public_key
        ip = primary_ip(request.networks)
        debug(f"Created VM {vm_cid} ({ip}) for agent {agent_id} ({request.metadata.get('name', '')}) "
              f"through CPI '{request.cpi}'")
        settings = {
            "agent_id": agent_id,
            "mbus": director.access.agent_url(agent_id, password, host=director.config.agent_endpoint_host),
            "blobstore": AgentCredentials.load_or_create(director.config.agent_blobstore_key_path).settings(
                director.blobstore_url_for_agents, agent_id),
            "heartbeat_interval": director.config.heartbeat_interval,
            "vm": {"cid": vm_cid},
            "env": request.env,
        }
        if _cpi_starts_agent(result):  # cpi/dummy: no sshd; the CPI starts the agent itself
            await cpi.call("bootstrap_agent", vm_cid, settings)
        else:
            await in_vm_thread(director.vm_threads, _bootstrap, director, ip, host_public_key, settings)
        # short pings: the first ones go out before the new agent has subscribed
        await director.agent(agent_id).wait_until_ready(director.config.agent_wait_timeout, ping_timeout=1.0)
        if request.metadata:
            await cpi.call("set_vm_metadata", vm_cid, request.metadata)
        return CreatedVm(vm_cid, agent_id, host_public_key, ip, request.cpi)
    except BaseException:
        await asyncio.shield(_undo_create(director, vm_cid, agent_id, debug, request.cpi))
        raise


async def _undo_create(director: Director, vm_cid: str | None, agent_id: str, debug: Callable[[str], None],
                       cpi: str) -> None:
    try:
        if vm_cid is not None:
            try:
                await director.cpi(debug, cpi).call("delete_vm", vm_cid)
            except CpiError as error:
                debug(f"Cleaning up VM {vm_cid} after a failed create: {error}")
                if not isinstance(error, VMNotFound):
                    return  # the intent stays: cck finds the VM and deletes it later
        _record(director, lambda session: forget(session, agent_id))
    finally:
        await revoke_agent(director, agent_id)


def _ip_or_none(networks: dict) -> str | None:
    try:
        return primary_ip(networks)
    except ValueError:
        return None


def _record(director: Director, change: Callable[[Any], None]) -> None:
    """One short transaction on the intents table (orphan_vms.py)."""
    with director.sessions.begin() as session:
        change(session)


async def delete_vm(director: Director, vm_cid: str, agent_id: str | None, debug: Callable[[str], None],
                    cpi: str) -> None:
    """Through ``cpi``, the CPI that made the VM (its row says which), never another."""
    try:
        await director.cpi(debug, cpi).call("delete_vm", vm_cid)
    except VMNotFound:
        debug(f"VM {vm_cid} was already gone")
    if agent_id:
        _record(director, lambda session: forget(session, agent_id))
        await revoke_agent(director, agent_id)


async def revoke_agent(director: Director, agent_id: str) -> None:
    """The VM is gone: its agent may read or write no blob and use no NATS subject any more."""
    await director.access.revoke(agent_id)
