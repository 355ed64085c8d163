"""The agent's settings as user data: CPI API v2 without a registry.

The VM reads these from the IaaS metadata service at first boot, as bosh-agent's
"CloudInit"/"HTTP" settings sources do; this is the only way they reach the VM.
``encode`` is the plain JSON document the method module hands a provider; every provider sends
it as ``cloud_config`` (EC2 and OpenStack user data, vSphere's ``guestinfo.userdata``), since a
stock cloud image runs cloud-init and only a ``#cloud-config`` document makes it install the
host key the director pinned. Where the system and ephemeral disks show up is the IaaS's to
say (``/dev/xvda`` on EC2, ``/dev/vda`` on OpenStack, SCSI units on vSphere), so each provider
puts its own ``disks`` in (``cloud_config_from(..., disks=...)``).
"""

from __future__ import annotations

import json
from typing import Any

from cpi.libcloud.errors import InvalidCall


def agent_settings(agent_id: str, networks: dict[str, Any], env: dict[str, Any] | None,
                   agent_config: dict[str, Any]) -> dict[str, Any]:
    """The settings document; ``agent_config`` (from the CPI config: mbus, ntp …) is merged in."""
    settings: dict[str, Any] = {
        "agent_id": agent_id,
        "vm": {"name": f"vm-{agent_id}"},
        "networks": networks,
        "disks": {"persistent": {}},  # system and ephemeral: the provider's (cloud_config_from)
        "env": env or {},
    }
    settings.update(agent_config)
    return settings


def encode(settings: dict[str, Any]) -> str:
    return json.dumps({"settings": settings}, sort_keys=True)


CLOUD_INIT_KEY_TYPES = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "ecdsa-sha2-nistp256": "ecdsa",
                        "ecdsa-sha2-nistp384": "ecdsa", "ecdsa-sha2-nistp521": "ecdsa"}


def cloud_config(settings: dict[str, Any]) -> str:
    """The settings as a ``#cloud-config`` document, for images that run cloud-init (stock
    EC2 AMIs do): cloud-init installs ``env.bosh.host_key`` as sshd's only host key before
    sshd starts (``ssh_keys``, the image's own keys deleted), so the director's pinned key
    is the one the VM presents, and ``env.bosh.authorized_keys`` for root
    (``ssh_authorized_keys`` with ``disable_root: false``). The settings ride along under
    ``settings``, a key cloud-init ignores. JSON is YAML, so the body stays JSON."""
    bosh = (settings.get("env") or {}).get("bosh") or {}
    document: dict[str, Any] = {"settings": settings}
    keys = bosh.get("authorized_keys") or []
    if isinstance(keys, str):
        keys = [keys]
    if keys:
        document.update(ssh_authorized_keys=[str(k) for k in keys], disable_root=False)
    host_key = bosh.get("host_key")
    if host_key:
        public = str(host_key.get("public_key") or "") if isinstance(host_key, dict) else ""
        kind = CLOUD_INIT_KEY_TYPES.get(public.split(" ", 1)[0])
        if kind is None or not host_key.get("private_key"):
            raise InvalidCall("create_vm: env.bosh.host_key needs private_key and a public_key of "
                              f"type {', '.join(CLOUD_INIT_KEY_TYPES)}")
        document.update(ssh_keys={f"{kind}_private": str(host_key["private_key"]),
                                  f"{kind}_public": public},
                        ssh_deletekeys=True, ssh_genkeytypes=[kind])
    return "#cloud-config\n" + json.dumps(document, sort_keys=True)


def decode(encoded: str) -> dict[str, Any]:
    """The settings of an ``encode``d document (what a provider's VmSpec carries)."""
    settings: dict[str, Any] = json.loads(encoded)["settings"]
    return settings


def cloud_config_from(encoded: str, **provider_says: Any) -> str:
    """``cloud_config`` of an ``encode``d document, with the top-level settings only the
    provider knows (``disks``; on vSphere also ``networks`` with each NIC's MAC) replaced."""
    return cloud_config({**decode(encoded), **provider_says})
