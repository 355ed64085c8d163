"""Asking the CPI whether a silent agent's VM still exists (``has_vm``), long before the
agent timeout runs out.

A heartbeat that is a little late says little; a VM the IaaS no longer has says everything.
So an agent silent for ``suspect_after`` seconds (a missed heartbeat or so) is "suspect",
and the CPI of its AZ (the one that made the VM) is asked ``has_vm``; false marks it
``vanished`` and the resurrector recreates it at once. True is no evidence of death and no
evidence of life either: the agent timeout still decides. Each VM is asked at most once
per ``vm_check_interval`` so a slow CPI is not called every analysis round, and a CPI
error counts as "don't know", never as "gone".

``VmCheckSchedule`` is pure (time passed in); ``ask_cpis`` does the asking and runs on the
director's event loop (each CPI call is its own process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bosh_py.monitor.decisions import Member

log = logging.getLogger(__name__)

HasVm = Callable[[Member], Awaitable[bool]]


@dataclass
class VmCheckSchedule:
    interval: float  # seconds between two has_vm calls for the same VM
    asked_at: dict[str, float] = field(default_factory=dict)  # vm_cid -> when

    def due(self, suspects: list[Member], now: float) -> list[Member]:
        """The suspects whose VM was not asked about within ``interval``; forgets VMs no
        longer suspect, so a VM that falls silent again is asked at once."""
        cids = {m.vm_cid for m in suspects if m.vm_cid}
        for cid in set(self.asked_at) - cids:
            del self.asked_at[cid]
        due = [m for m in suspects if m.vm_cid and now - self.asked_at.get(m.vm_cid, float("-inf")) >= self.interval]
        for member in due:
            self.asked_at[member.vm_cid] = now  # type: ignore[index]  # filtered above
        return due


async def ask_cpis(members: list[Member], has_vm: HasVm) -> frozenset[str]:
    """Agent ids whose VM the CPI answered has_vm == false for. Calls run concurrently; an
    error (CPI down, bad config) is logged and proves nothing."""

    async def gone(member: Member) -> bool:
        try:
            return not await has_vm(member)
        except Exception as error:  # noqa: BLE001 - any failure means "don't know"
            log.warning("has_vm %s (%s) through CPI '%s' failed: %s", member.vm_cid, member.name, member.cpi, error)
            return False

    answers: list[Any] = await asyncio.gather(*(gone(m) for m in members))
    return frozenset(m.agent_id for m, is_gone in zip(members, answers) if is_gone and m.agent_id)
