"""apply(spec): install the spec's packages and rendered jobs, switch the
/var/vcap/{packages,jobs} links, make the per-job directories, drop what the spec no
longer names, and record the spec in /var/vcap/bosh/spec.json. Running processes are
not touched: the director stops and starts jobs around apply (start picks changes up)."""

import asyncio

from bosh_py.agent.context import ActionContext
from bosh_py.agent.digest import Digest
from bosh_py.agent.specinstall import fetch_spec

ASYNC = True


async def run(ctx: ActionContext, spec: dict) -> str:
    async with ctx.jobs_lock:
        fetched = await fetch_spec(ctx, spec)
        installer = ctx.installer()

        def switch() -> None:
            for name, version in fetched.packages.items():
                installer.link_package(name, version)
            for job, content_hash in fetched.jobs.items():
                installer.link_job(job, content_hash)
            archive = spec.get("rendered_templates_archive") or {}
            digest = Digest.parse(archive["sha1"]) if archive.get("sha1") else None
            installer.cleanup(fetched.packages, fetched.jobs, digest)
            ctx.save_spec(spec)

        await asyncio.to_thread(switch)
        ctx.log.info("applied spec (%d packages, jobs: %s)", len(fetched.packages),
                     ", ".join(sorted(fetched.jobs)) or "none")
    return "applied"
