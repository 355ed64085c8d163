"""unmount_disk(cid): unmount the persistent disk (jobs using it must be stopped)."""

import asyncio

from bosh_py.agent.context import ActionContext
from bosh_py.agent.mounts import is_mounted, unmount

ASYNC = True


async def run(ctx: ActionContext, cid: str) -> dict:
    async with ctx.jobs_lock:
        if cid not in ctx.state.disks:
            return {"message": f"Disk {cid} is not mounted"}
        if is_mounted(ctx.paths.store):
            await asyncio.to_thread(unmount, ctx.paths.store)
        del ctx.state.disks[cid]
        ctx.state.save()
        ctx.log.info("unmounted disk %s", cid)
    return {"message": f"Unmounted disk {cid}"}
