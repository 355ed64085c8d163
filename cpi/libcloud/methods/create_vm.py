"""create_vm(agent_id, stemcell_cid, cloud_properties, networks, disk_cids, env).

The agent's settings go to the VM as user data (API v2, no registry); the answer is
[vm_cid, networks] with each network's IP as the IaaS assigned it.
"""

from __future__ import annotations

from typing import Any

from cpi.libcloud import user_data
from cpi.libcloud.context import Context
from cpi.libcloud.errors import InvalidCall
from cpi.libcloud.provider import VmSpec


def run(ctx: Context, agent_id: str, stemcell_cid: str, cloud_properties: dict | None,
        networks: dict | None, disk_cids: list | None = None,
        env: dict | None = None) -> list[Any]:
    if not isinstance(agent_id, str) or not agent_id:
        raise InvalidCall("create_vm: agent_id must be a non-empty string")
    if networks is not None and not isinstance(networks, dict):
        raise InvalidCall("create_vm: networks must be an object")
    networks = networks or {}
    settings = user_data.agent_settings(agent_id, networks, env, ctx.config.agent)
    spec = VmSpec(agent_id, stemcell_cid, dict(cloud_properties or {}), networks,
                  [str(d) for d in disk_cids or []], user_data.encode(settings))
    vm_cid, assigned = ctx.provider.create_vm(spec)
    ctx.log(f"create_vm: {vm_cid} for agent {agent_id}")
    return [vm_cid, assigned]
