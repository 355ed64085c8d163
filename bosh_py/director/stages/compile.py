"""Stage "compile": every package the jobs use, once per stemcell, dependencies first, from
the cache when (fingerprint, stemcell, dependency fingerprints) match. A dry run only
looks in the cache: a package not there shows as "(to compile)" and so as a change."""

from __future__ import annotations

from sqlalchemy import select

from bosh_py.director.compiler import (CompiledRef, SourcePackage, StemcellRef, cached, compile_packages,
                                       dependency_keys)
from bosh_py.director.models import Package
from bosh_py.director.planner import DeploymentPlan, stemcell_cid_in
from bosh_py.director.services import Director
from bosh_py.director.stages.context import DeployRun
from bosh_py.director.vm_lifecycle import VmRequest, create_vm, delete_vm
from bosh_py.errors import BoshPyError

NOT_COMPILED = "(to compile)"  # the blob id a dry run shows for a package it would compile


def packages_needed(director: Director, plan: DeploymentPlan, archives: dict,
                    jobs: list) -> dict[tuple[str, str], SourcePackage]:
    """The packages the given jobs use, with all their dependencies, from the releases."""
    needed: dict[tuple[str, str], SourcePackage] = {}
    wanted = [(job.release, pkg) for job in jobs for pkg in archives[(job.release, job.name)].spec.packages]
    with director.sessions() as session:
        while wanted:
            release_name, name = wanted.pop()
            if (release_name, name) in needed:
                continue
            listed = {p["name"]: p for p in plan.releases[release_name].manifest.get("packages", [])}
            entry = listed.get(name)
            if entry is None:
                raise BoshPyError(f"Release '{release_name}' has no package '{name}'")
            row = session.scalars(select(Package).where(
                Package.release_name == release_name, Package.name == name,
                Package.fingerprint == entry["fingerprint"])).first()
            if row is None:
                raise BoshPyError(f"Package '{name}' of release '{release_name}' is missing its blob")
            needed[(release_name, name)] = SourcePackage(release_name, name, row.fingerprint,
                                                        tuple(row.dependencies or []), row.blobstore_id, row.sha1)
            wanted.extend((release_name, dep) for dep in row.dependencies or [])
    return needed


def compilation_vm_factory(director: Director, plan: DeploymentPlan, stemcell: StemcellRef, debug):  # type: ignore[no-untyped-def]
    async def create(number: int):  # type: ignore[no-untyped-def]
        stemcell_cid = stemcell_cid_in(stemcell, plan.compilation_cpi, "cloud-config/compilation/az")
        subnet, ip = plan.next_compilation_address()
        networks = {subnet.network: subnet.settings(ip)}
        vm = await create_vm(director, VmRequest(
            stemcell_cid, plan.compilation["cloud_properties"], networks, dict(plan.compilation.get("env") or {}),
            {"deployment": plan.name, "compiling": "true", "name": f"compilation-{number}",
             "director": director.config.name}, plan.compilation_cpi), debug)

        async def delete() -> None:
            await delete_vm(director, vm.cid, vm.agent_id, debug, vm.cpi)
            plan.ip_allocator.release(vm.ip)

        return vm.agent_id, delete

    return create


def cached_only(director: Director, packages: dict[tuple[str, str], SourcePackage],
                stemcell: StemcellRef) -> dict[tuple[str, str], CompiledRef]:
    """What compile_packages would return, without compiling: the cache, or a placeholder."""
    keys = dependency_keys(packages)
    return {ref: cached(director, package, stemcell, keys[ref])
            or CompiledRef(package.name, package.fingerprint, NOT_COMPILED, NOT_COMPILED)
            for ref, package in packages.items()}


async def run(r: DeployRun) -> None:
    assert r.plan is not None
    jobs_by_stemcell: dict[StemcellRef, list] = {}
    for group in r.plan.groups:
        jobs_by_stemcell.setdefault(group.stemcell, []).extend(group.jobs)
    for stemcell, jobs in jobs_by_stemcell.items():
        needed = packages_needed(r.director, r.plan, r.archives, jobs)
        if r.options.dry_run:
            r.compiled.update(cached_only(r.director, needed, stemcell))
            continue
        r.compiled.update(await compile_packages(
            r.director, needed, stemcell, int(r.plan.compilation.get("workers", 1)),
            compilation_vm_factory(r.director, r.plan, stemcell, r.log.debug), r.log))

