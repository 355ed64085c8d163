"""fetch_logs(log_type, filters): pack logs into a tgz in the blobstore.

log_type "job" packs /var/vcap/sys/log (as ``<job>/<file>``), "agent" the agent's own log
(/var/vcap/bosh/log), "all" both (under ``job/`` and ``agent/``). filters are globs on
the relative path (BOSH's default ``**/*`` = everything)."""

import asyncio
import fnmatch
import uuid
from typing import Any

from bosh_py.agent.archive import make_tgz
from bosh_py.agent.blobstore import upload_id_argument
from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError

ASYNC = True


def _matcher(filters: Any):
    if not filters:
        return None
    if isinstance(filters, str):
        filters = [filters]
    patterns = [str(f) for f in filters]
    if any(p in ("**", "**/*", "*") for p in patterns):
        return None

    def include(rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, p) or (p.startswith("**/") and fnmatch.fnmatch(rel, p[3:]))
                   for p in patterns)
    return include


async def run(ctx: ActionContext, log_type: str = "job", filters: Any = None,
              blobstore_id: Any = None) -> dict:
    """``blobstore_id``: where to upload (the director names the one blob it may write)."""
    blobstore_id = upload_id_argument(blobstore_id, "fetch_logs")
    paths = ctx.paths
    sources = {"job": [(paths.sys_log, "")], "agent": [(paths.agent_log_dir, "")],
               "all": [(paths.sys_log, "job"), (paths.agent_log_dir, "agent")]}.get(log_type or "job")
    if sources is None:
        raise AgentActionError(f"Unknown log type {log_type!r} (job, agent or all)")
    paths.tmp.mkdir(parents=True, exist_ok=True)
    out = paths.tmp / f"logs-{uuid.uuid4().hex}.tgz"

    def pack_and_upload() -> tuple[str, str]:
        try:
            make_tgz(out, sources, _matcher(filters))
            return ctx.blobstore().put(out, blobstore_id)
        finally:
            out.unlink(missing_ok=True)

    blob_id, sha = await asyncio.to_thread(pack_and_upload)
    return {"blobstore_id": blob_id, "sha1": sha}
