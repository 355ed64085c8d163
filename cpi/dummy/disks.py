"""A dummy disk is a directory: ``<state_dir>/disks/<cid>`` while detached, moved (one
rename, so its files survive) to ``<vm>/var/vcap/bosh/disks/<cid>`` while attached; the
hint is that VM path, which the agent links /var/vcap/store to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cpi.dummy.config import DummyConfig

IN_VM = "var/vcap/bosh/disks"


def hint(cid: str) -> str:
    return f"/{IN_VM}/{cid}"


def disk_path(config: DummyConfig, record: dict[str, Any], cid: str) -> Path:
    vm = record.get("vm")
    return config.vm_dir(vm) / IN_VM / cid if vm else config.disks / cid


def attach(config: DummyConfig, record: dict[str, Any], cid: str, vm_cid: str) -> None:
    target = config.vm_dir(vm_cid) / IN_VM / cid
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.rename(config.disks / cid, target)
    record["vm"] = vm_cid


def detach(config: DummyConfig, record: dict[str, Any], cid: str) -> None:
    os.rename(disk_path(config, record, cid), config.disks / cid)
    record["vm"] = None


def detach_all(config: DummyConfig, state: dict[str, dict[str, Any]], vm_cid: str) -> None:
    """A deleted VM's disks go back to the pool, as a cloud detaches them."""
    for cid, record in state["disks"].items():
        if record.get("vm") == vm_cid:
            detach(config, record, cid)
    state["vms"].get(vm_cid, {})["disks"] = []
