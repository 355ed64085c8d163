"""mount_disk(cid, hint): mount the persistent disk at /var/vcap/store. ``hint`` is the
CPI's answer from attach_disk (a path, or {"path", "volume_id"}); ``disk_hints`` finds the
device it names on this VM, waiting for a cloud attachment to appear. The hint is
remembered, and resolved again when the agent mounts the disk after a reboot (NVMe names
may change across boots)."""

import asyncio
from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.disk_hints import parse_hint, wait_for_disk
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.mounts import is_mounted, mount_disk

ASYNC = True


async def run(ctx: ActionContext, cid: str, hint: Any = None) -> dict:
    async with ctx.jobs_lock:
        parsed = parse_hint(hint)
        store = ctx.paths.store
        if is_mounted(store):
            if cid in ctx.state.disks:
                return {}
            raise AgentActionError(f"Cannot mount disk {cid}: another disk is mounted at /var/vcap/store "
                                   f"({', '.join(ctx.state.disks) or 'unknown'})")
        device = await asyncio.to_thread(wait_for_disk, parsed, ctx.paths.root)
        await asyncio.to_thread(mount_disk, device, store)
        ctx.state.disks = {cid: {"hint": hint, "device": "/" + str(device.relative_to(ctx.paths.root))}}
        ctx.state.save()
        ctx.log.info("mounted disk %s from %s", cid, device)
    return {}
