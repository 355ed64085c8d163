"""The agent's settings as guestinfo: how a vSphere VM reads its user data.

cloud-init's VMware datasource (and open-vm-tools' ``vmtoolsd --cmd "info-get guestinfo.…"``)
reads ``guestinfo.userdata`` and ``guestinfo.metadata`` from the VM's extraConfig, each with an
``.encoding``; base64 keeps the document intact whatever it holds. The user data is the same
``#cloud-config`` document EC2 and OpenStack get (``user_data.cloud_config``), so cloud-init on a
stock template installs the director's pinned host key. The metadata names the instance (so
cloud-init treats a re-created VM as a new instance) and, on a manual network, carries the static
IP as cloud-init network config v2, matched by the NIC's MAC: a vSphere VM has no DHCP the CPI
could count on. ``disk.EnableUUID`` lets the guest see disk serial numbers, as BOSH's vSphere CPI
sets it.

The settings name what vCenter made, read back after the devices exist (``MadeDevices``), as
BOSH's vSphere CPI builds its env after the clone: each disk by its SCSI unit (``{"id": "0"}``,
the form attach_disk's hint has) and the NIC's MAC in its network's settings.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from cpi.libcloud import user_data
from cpi.libcloud.errors import InvalidCall


@dataclass(frozen=True)
class MadeDevices:
    """What the agent's settings name on a new VM: its NIC's MAC and its disks' SCSI units."""

    mac: str | None
    system_unit: int | None
    ephemeral_unit: int

    def agent_disks(self) -> dict[str, Any]:
        disks: dict[str, Any] = {"ephemeral": {"id": str(self.ephemeral_unit)}, "persistent": {}}
        if self.system_unit is not None:
            disks["system"] = {"id": str(self.system_unit)}
        return disks


def made_devices(devices: list[Any], controller_key: int, ephemeral_unit: int) -> MadeDevices:
    """Read from the VM's devices after the reconfigure: the one NIC (the CPI replaced the
    template's) and the template's disk on the controller the ephemeral disk went to."""
    macs = [d.macAddress for d in devices if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    system_units = sorted(d.unitNumber for d in devices
                          if isinstance(d, vim.vm.device.VirtualDisk) and d.controllerKey == controller_key
                          and d.unitNumber is not None and d.unitNumber != ephemeral_unit)
    return MadeDevices(macs[0] if len(macs) == 1 and macs[0] else None,
                       system_units[0] if system_units else None, ephemeral_unit)


def check_settings(encoded_settings: str) -> None:
    """Fail on settings the guestinfo could not carry (a host key cloud-init cannot install, a
    static IP that is no address) before anything is cloned."""
    extra_config(encoded_settings, "vm-check", MadeDevices("00:50:56:00:00:00", 0, 1))


def extra_config(encoded_settings: str, vm_name: str, made: MadeDevices) -> list[vim.option.OptionValue]:
    settings = user_data.decode(encoded_settings)
    networks = with_mac(settings.get("networks") or {}, made.mac)
    document = user_data.cloud_config_from(encoded_settings, disks=made.agent_disks(), networks=networks)
    metadata: dict[str, Any] = {"instance-id": vm_name, "local-hostname": vm_name}
    network = network_config(networks, made.mac)
    if network is not None:
        metadata["network"] = network
    values = {
        "guestinfo.userdata": _b64(document),
        "guestinfo.userdata.encoding": "base64",
        "guestinfo.metadata": _b64(json.dumps(metadata, sort_keys=True)),
        "guestinfo.metadata.encoding": "base64",
        "disk.EnableUUID": "TRUE",
    }
    return [vim.option.OptionValue(key=key, value=value) for key, value in values.items()]


def primary_network_name(networks: dict[str, Any]) -> str | None:
    """The network the VM's one NIC is on: the default gateway's, else the first (as
    ``common.primary_network`` chooses it)."""
    for name, net in networks.items():
        if "gateway" in (net.get("default") or []):
            return str(name)
    return next(iter(networks), None)


def with_mac(networks: dict[str, Any], mac: str | None) -> dict[str, Any]:
    """The networks, the NIC's MAC added to the one it is on (bosh-agent maps interfaces by it)."""
    primary = primary_network_name(networks)
    if mac is None or primary is None:
        return networks
    return {name: ({**net, "mac": mac} if name == primary else net) for name, net in networks.items()}


def network_config(networks: dict[str, Any], mac: str | None) -> dict[str, Any] | None:
    """cloud-init network config v2 for a manual network's static IP; None when the NIC's
    network is dynamic (the guest asks DHCP) or its MAC is unknown."""
    primary = primary_network_name(networks)
    net = networks.get(primary) if primary is not None else None
    if mac is None or not net or net.get("type", "manual") != "manual" or not net.get("ip"):
        return None
    where = f"create_vm: networks.{primary}"
    try:
        interface = ipaddress.ip_interface(f"{net['ip']}/{net.get('netmask') or 32}")
    except ValueError as error:
        raise InvalidCall(f"{where}: ip {net['ip']!r} / netmask {net.get('netmask')!r}: {error}") from None
    ethernet: dict[str, Any] = {"match": {"macaddress": mac}, "addresses": [str(interface)]}
    if net.get("gateway") and "gateway" in (net.get("default") or []):
        ethernet["gateway4"] = str(net["gateway"])
    if net.get("dns"):
        ethernet["nameservers"] = {"addresses": [str(a) for a in net["dns"]]}
    return {"version": 2, "ethernets": {"nic0": ethernet}}


def read_user_data(options: list[vim.option.OptionValue]) -> str | None:
    """The user data a VM's extraConfig carries (the last value set wins), decoded."""
    return _read(options, "guestinfo.userdata")


def read_metadata(options: list[vim.option.OptionValue]) -> str | None:
    """The metadata a VM's extraConfig carries (the last value set wins), decoded."""
    return _read(options, "guestinfo.metadata")


def _read(options: list[vim.option.OptionValue], key: str) -> str | None:
    found = None
    for option in options or []:
        if option.key == key:
            found = option.value
    return base64.b64decode(found).decode() if found is not None else None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
