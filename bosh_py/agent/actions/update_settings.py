"""update_settings(settings): merge new settings into settings.json (blobstore, env,
heartbeat_interval, ...). Blobstore and heartbeat changes apply at once; an mbus change
applies at the next agent start. The values are never logged."""

from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.settings import Settings

ASYNC = False
FIXED = ("agent_id",)


async def run(ctx: ActionContext, new: Any) -> str:
    if not isinstance(new, dict):
        raise AgentActionError("update_settings: expected a mapping")
    changed = [k for k in FIXED if k in new and new[k] != ctx.settings.raw.get(k)]
    if changed:
        raise AgentActionError(f"update_settings cannot change {', '.join(changed)}")
    merged = dict(ctx.settings.raw)
    merged.update(new)
    settings = Settings.from_dict(merged)
    settings.save(ctx.settings_path)
    ctx.settings = settings
    ctx.log.info("settings updated (keys: %s)", ", ".join(sorted(new)))
    return "updated"
