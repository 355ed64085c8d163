"""mount_disk(cid, hint): mount the persistent disk at /var/vcap/store. ``hint`` is the
CPI's answer from attach_disk: a path inside the VM (string, or a mapping with "path").
Remembered, so the agent mounts it again after a reboot."""

import asyncio
from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.mounts import is_mounted, mount_disk

ASYNC = True


def hint_path(hint: Any) -> str:
    path = hint.get("path") if isinstance(hint, dict) else hint
    if not isinstance(path, str) or not path.startswith("/"):
        raise AgentActionError(f"mount_disk: cannot use disk hint {hint!r} (expected an absolute path)")
    return path


async def run(ctx: ActionContext, cid: str, hint: Any = None) -> dict:
    async with ctx.jobs_lock:
        path = hint_path(hint)
        store = ctx.paths.store
        if is_mounted(store):
            if cid in ctx.state.disks:
                return {}
            raise AgentActionError(f"Cannot mount disk {cid}: another disk is mounted at /var/vcap/store "
                                   f"({', '.join(ctx.state.disks) or 'unknown'})")
        await asyncio.to_thread(mount_disk, ctx.paths.vm(path), store)
        ctx.state.disks = {cid: {"hint": path}}
        ctx.state.save()
        ctx.log.info("mounted disk %s", cid)
    return {}
