"""Lookups every method shares: a VM or disk record, or the CPI's typed "not found"."""

from __future__ import annotations

from typing import Any

from cpi.protocol import DiskNotFound, VMNotFound


def vm_record(state: dict[str, dict[str, Any]], cid: str) -> dict[str, Any]:
    record = state["vms"].get(str(cid))
    if record is None:
        raise VMNotFound(f"VM {cid} not found")
    return record


def disk_record(state: dict[str, dict[str, Any]], cid: str) -> dict[str, Any]:
    record = state["disks"].get(str(cid))
    if record is None:
        raise DiskNotFound(f"disk {cid} not found")
    return record
