"""The interface each IaaS provider implements, and the lazy by-name provider registry.

A provider speaks the CPI's verbs in the IaaS's terms; the method modules stay
IaaS-neutral. As libcloud's ``DRIVERS`` table does, ``PROVIDERS`` maps a name to a module
that is imported only when a config names it, so the AWS provider never loads vSphere code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cpi.libcloud.config import Config
from cpi.libcloud.errors import InvalidCall, NotImplementedFailure

PROVIDERS: dict[str, str] = {"aws": "cpi.libcloud.providers.aws",
                             "openstack": "cpi.libcloud.providers.openstack",
                             "vsphere": "cpi.libcloud.providers.vsphere"}
PLANNED: tuple[str, ...] = ()  # named in the issue, not written yet


@dataclass(frozen=True)
class VmSpec:
    """Everything create_vm needs, as plain data (the method module builds it)."""

    agent_id: str
    stemcell_cid: str
    cloud_properties: dict[str, Any]
    networks: dict[str, Any]
    disk_cids: list[str]
    user_data: str = field(repr=False)  # agent settings; may hold env secrets


class Provider(Protocol):
    stemcell_formats: tuple[str, ...]

    def create_stemcell(self, cloud_properties: dict[str, Any]) -> str: ...
    def delete_stemcell(self, stemcell_cid: str) -> None: ...
    def create_vm(self, spec: VmSpec) -> tuple[str, dict[str, Any]]: ...
    def delete_vm(self, vm_cid: str) -> None: ...
    def has_vm(self, vm_cid: str) -> bool: ...
    def reboot_vm(self, vm_cid: str) -> None: ...
    def set_vm_metadata(self, vm_cid: str, metadata: dict[str, str]) -> None: ...
    def create_disk(self, size_mb: int, cloud_properties: dict[str, Any],
                    vm_cid: str | None) -> str: ...
    def delete_disk(self, disk_cid: str) -> None: ...
    def has_disk(self, disk_cid: str) -> bool: ...
    def attach_disk(self, vm_cid: str, disk_cid: str) -> str | dict[str, str]: ...  # the hint
    def detach_disk(self, vm_cid: str, disk_cid: str) -> None: ...
    def get_disks(self, vm_cid: str) -> list[str]: ...
    def resize_disk(self, disk_cid: str, new_size_mb: int) -> None: ...
    def snapshot_disk(self, disk_cid: str, metadata: dict[str, str]) -> str: ...
    def delete_snapshot(self, snapshot_cid: str) -> None: ...
    def set_disk_metadata(self, disk_cid: str, metadata: dict[str, str]) -> None: ...
    def calculate_vm_cloud_properties(self, requirements: dict[str, Any]) -> dict[str, Any]: ...


def provider_module_name(name: str) -> str:
    """The module of provider ``name``; a clear error for a planned or unknown one."""
    if name in PLANNED:
        raise NotImplementedFailure(f"libcloud CPI provider {name!r} is not implemented yet "
                                    f"(available: {', '.join(sorted(PROVIDERS))})")
    if name not in PROVIDERS:
        raise InvalidCall(f"CPI config provider {name!r} is unknown "
                          f"(available: {', '.join(sorted(PROVIDERS))})")
    return PROVIDERS[name]


def provider_class(name: str) -> Any:
    return importlib.import_module(provider_module_name(name)).PROVIDER


def load_provider(config: Config, log: Callable[[str], None]) -> Provider:
    """Import the named provider and make it from its config section."""
    return provider_class(config.provider)(config.settings, log)  # type: ignore[no-any-return]
