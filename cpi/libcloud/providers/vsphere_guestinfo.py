"""The agent's settings as guestinfo: how a vSphere VM reads its user data.

cloud-init's VMware datasource (and open-vm-tools' ``vmtoolsd --cmd "info-get guestinfo.…"``)
reads ``guestinfo.userdata`` and ``guestinfo.metadata`` from the VM's extraConfig, each with an
``.encoding``; base64 keeps the JSON intact whatever it holds. The metadata names the instance
so cloud-init treats a re-created VM as a new instance. ``disk.EnableUUID`` lets the guest see
disk serial numbers, as BOSH's vSphere CPI sets it.
"""

from __future__ import annotations

import base64
import json

from pyVmomi import vim


def extra_config(user_data: str, vm_name: str) -> list[vim.option.OptionValue]:
    metadata = json.dumps({"instance-id": vm_name, "local-hostname": vm_name}, sort_keys=True)
    values = {
        "guestinfo.userdata": _b64(user_data),
        "guestinfo.userdata.encoding": "base64",
        "guestinfo.metadata": _b64(metadata),
        "guestinfo.metadata.encoding": "base64",
        "disk.EnableUUID": "TRUE",
    }
    return [vim.option.OptionValue(key=key, value=value) for key, value in values.items()]


def read_user_data(options: list[vim.option.OptionValue]) -> str | None:
    """The user data a VM's extraConfig carries (the last value set wins), decoded."""
    found = None
    for option in options or []:
        if option.key == "guestinfo.userdata":
            found = option.value
    return base64.b64decode(found).decode() if found is not None else None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
