"""Fetch what an apply spec names (packages, rendered jobs), in parallel; shared by
``prepare`` (fetch only, to shorten downtime) and ``apply`` (fetch, then switch links)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bosh_py.agent.context import ActionContext
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.installer import check_name

PARALLEL_DOWNLOADS = 4


@dataclass
class FetchedSpec:
    packages: dict[str, str]  # name -> version
    jobs: dict[str, str]      # job -> content hash


def spec_packages(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    packages = spec.get("packages") or {}
    if not isinstance(packages, dict):
        raise AgentActionError("apply spec: packages must be a mapping")
    out = {}
    for key, pkg in packages.items():
        if not isinstance(pkg, dict):
            raise AgentActionError(f"apply spec: packages/{key}: expected a mapping")
        name = check_name("package name", pkg.get("name") or key)
        for field in ("version", "blobstore_id", "sha1"):
            if not pkg.get(field):
                raise AgentActionError(f"apply spec: packages/{key}/{field} missing")
        check_name("package version", pkg["version"])
        out[name] = pkg
    return out


def spec_job_names(spec: dict[str, Any]) -> list[str]:
    job = spec.get("job") or {}
    return [t["name"] for t in (job.get("templates") or []) if isinstance(t, dict) and t.get("name")]


async def fetch_spec(ctx: ActionContext, spec: dict[str, Any]) -> FetchedSpec:
    if not isinstance(spec, dict):
        raise AgentActionError("apply spec must be a mapping")
    installer = ctx.installer()
    packages = spec_packages(spec)
    limit = asyncio.Semaphore(PARALLEL_DOWNLOADS)

    async def one(name: str, pkg: dict[str, Any]) -> None:
        async with limit:
            await asyncio.to_thread(installer.install_package, name, str(pkg["version"]),
                                    str(pkg["blobstore_id"]), str(pkg["sha1"]))

    archive = spec.get("rendered_templates_archive") or None

    async def jobs() -> dict[str, str]:
        if not archive:
            return {}
        async with limit:
            return await asyncio.to_thread(installer.fetch_jobs, archive)

    results = await asyncio.gather(jobs(), *(one(n, p) for n, p in packages.items()))
    fetched_jobs: dict[str, str] = results[0]
    missing = [j for j in spec_job_names(spec) if j not in fetched_jobs]
    if missing:
        raise AgentActionError(f"Rendered templates archive lacks job(s): {', '.join(missing)}")
    return FetchedSpec({n: str(p["version"]) for n, p in packages.items()}, fetched_jobs)
