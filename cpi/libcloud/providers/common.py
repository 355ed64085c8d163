"""Helpers every provider needs the same way: reading its config section, and choosing the
network a VM's one interface is on."""

from __future__ import annotations

from typing import Any

from cpi.libcloud.errors import InvalidCall


def required_setting(settings: dict[str, Any], provider: str, key: str) -> str:
    """A non-empty string from the provider's config section: nothing defaults to some account."""
    value = settings.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidCall(f"CPI config {provider}.{key}: a non-empty string is required")
    return value


def primary_network(networks: dict[str, Any]) -> dict[str, Any]:
    """The network the VM's one interface is on: the default gateway's, else the first."""
    if not networks:
        return {}
    for net in networks.values():
        if "gateway" in (net.get("default") or []):
            return dict(net)
    return dict(next(iter(networks.values())))
