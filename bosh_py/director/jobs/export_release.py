"""`bosh-py export-release NAME/VERSION OS/VERSION -d DEPLOYMENT`: a compiled release of one
release version for one stemcell, from the packages the deployment compiled.

The tarball (``release/compiled_tarball.py``) goes into the blobstore; the task's result is
its blob id, which the CLI downloads once and deletes (``api_releases``). Packages of the
release not yet compiled for that stemcell are compiled first, as BOSH does, on compilation
VMs of the deployment's cloud-config ``compilation`` (under the deployment's lock), and
cached like a deploy's, so the packages a director imports are exactly the ones built here.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select

from bosh_py.director.compiler import (
    SourcePackage,
    StemcellRef,
    compile_packages,
    dependency_keys,
)
from bosh_py.director.jobs.deploy import (
    compilation_vm_factory,
)
from bosh_py.director.manifest_input import prepare_deployment
from bosh_py.director.models import (
    CompiledPackage,
    Deployment,
    Event,
    Instance,
    Package,
    Release,
    ReleaseVersion,
    Stemcell,
    Task,
    Template,
)
from bosh_py.director.planner import plan_deployment
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError
from bosh_py.release.compiled_tarball import ArchiveFile, write_compiled_release

EXPORT_DESCRIPTION = "export release"


def check_exportable(director: Director, deployment: str, name: str, version: str, os_name: str,
                     os_version: str) -> None:
    """Before a task is queued: the deployment, release version and stemcell exist."""
    with director.sessions() as session:
        if session.scalars(select(Deployment.id).where(Deployment.name == deployment)).first() is None:
            raise BoshPyError(f"Deployment '{deployment}' doesn't exist")
        if _version(session, name, version) is None:
            raise BoshPyError(f"Release '{name}/{version}' not found (`bosh-py releases` lists them)")
        if session.scalars(select(Stemcell.id).where(Stemcell.operating_system == os_name,
                                                     Stemcell.version == os_version)).first() is None:
            raise BoshPyError(f"No uploaded stemcell has OS '{os_name}' and version '{os_version}' "
                              f"(`bosh-py stemcells` lists them)")


def _version(session, name: str, version: str) -> ReleaseVersion | None:  # type: ignore[no-untyped-def]
    return session.scalars(select(ReleaseVersion).join(Release).where(
        Release.name == name, ReleaseVersion.version == version)).first()


def release_packages(director: Director, name: str, version: str) -> dict[tuple[str, str], SourcePackage]:
    with director.sessions() as session:
        row = _version(session, name, version)
        if row is None:
            raise BoshPyError(f"Release '{name}/{version}' not found")
        packages: dict[tuple[str, str], SourcePackage] = {}
        for entry in row.manifest.get("packages") or []:
            package = session.scalars(select(Package).where(
                Package.release_name == name, Package.name == entry["name"],
                Package.fingerprint == entry["fingerprint"])).first()
            if package is None:
                raise BoshPyError(f"Package '{entry['name']}' of release '{name}/{version}' is missing")
            packages[(name, package.name)] = SourcePackage(name, package.name, package.fingerprint,
                                                           tuple(package.dependencies or []), package.blobstore_id,
                                                           package.sha1)
        return packages


def stemcell_ref(director: Director, os_name: str, os_version: str) -> StemcellRef:
    with director.sessions() as session:
        rows = list(session.scalars(select(Stemcell).where(Stemcell.operating_system == os_name,
                                                           Stemcell.version == os_version).order_by(Stemcell.id)))
    if not rows:
        raise BoshPyError(f"No uploaded stemcell has OS '{os_name}' and version '{os_version}'")
    return StemcellRef(rows[0].name, os_name, os_version, tuple(sorted({(r.cpi, r.cid) for r in rows})))


async def compile_for_export(director: Director, ctx: TaskContext, deployment: str, name: str, version: str,
                             os_name: str, os_version: str) -> None:
    """Compile what is not compiled yet (a cache hit compiles nothing and makes no VM), on the
    deployment's compilation VMs as its deployed manifest and cloud-config plan them."""
    async with director.locks.hold(f"deployment:{deployment}", ctx.id):
        with director.sessions() as session:
            row = session.scalars(select(Deployment).where(Deployment.name == deployment)).first()
            if row is None:
                raise BoshPyError(f"Deployment '{deployment}' doesn't exist")
            text, cloud_config_id = row.manifest_text, row.cloud_config_id
            existing = list(row.instances)
            used = {ip for ip in session.scalars(select(Instance.ip)) if ip}
            for instance in existing:
                session.expunge(instance)
        source = await asyncio.to_thread(prepare_deployment, director, text, False, cloud_config_id)
        with director.sessions() as session:
            plan = plan_deployment(session, source.manifest, source.cloud_config, existing,
                                   used - {i.ip for i in existing if i.ip})
        stemcell = stemcell_ref(director, os_name, os_version)
        await compile_packages(director, release_packages(director, name, version), stemcell,
                               int(plan.compilation.get("workers", 1)),
                               compilation_vm_factory(director, plan, stemcell, ctx.log.debug), ctx.log)


def _collect(director: Director, name: str, version: str, os_name: str,
             os_version: str) -> tuple[dict, list[ArchiveFile], list[ArchiveFile]]:
    packages = release_packages(director, name, version)
    with director.sessions() as session:
        row = _version(session, name, version)
        assert row is not None  # release_packages found it
        manifest = dict(row.manifest)
        keys = dependency_keys(packages)
        compiled, missing = [], []
        for ref, package in sorted(packages.items()):
            hit = session.scalars(select(CompiledPackage).where(
                CompiledPackage.package_fingerprint == package.fingerprint, CompiledPackage.stemcell_os == os_name,
                CompiledPackage.stemcell_version == os_version,
                CompiledPackage.dependency_key == keys[ref])).first()
            if hit is None or not director.blobstore.exists(hit.blobstore_id):
                missing.append(package.name)
                continue
            compiled.append(ArchiveFile({"name": package.name, "version": package.fingerprint,
                                         "fingerprint": package.fingerprint, "sha1": hit.sha1,
                                         "stemcell": f"{os_name}/{os_version}",
                                         "dependencies": list(package.dependencies)},
                                        director.blobstore.get_path(hit.blobstore_id)))
        if missing:
            raise BoshPyError(f"Release '{name}/{version}' has packages not compiled for stemcell "
                              f"{os_name}/{os_version}: {', '.join(missing)} (their compiled blobs went missing "
                              f"during the export; run it again)")
        jobs = []
        for entry in manifest.get("jobs") or []:
            template = session.scalars(select(Template).where(
                Template.release_name == name, Template.name == entry["name"],
                Template.fingerprint == entry["fingerprint"])).first()
            if template is None:
                raise BoshPyError(f"Job '{entry['name']}' of release '{name}/{version}' is missing its blob")
            jobs.append(ArchiveFile({"name": entry["name"], "version": entry.get("version", entry["fingerprint"]),
                                     "fingerprint": entry["fingerprint"], "sha1": template.sha1,
                                     "packages": list(entry.get("packages") or [])},
                                    director.blobstore.get_path(template.blobstore_id)))
    return manifest, jobs, compiled


def _export(director: Director, ctx: TaskContext, deployment: str, name: str, version: str, os_name: str,
            os_version: str) -> str:
    manifest, jobs, compiled = _collect(director, name, version, os_name, os_version)
    workdir = Path(tempfile.mkdtemp(dir=director.config.data_dir / "tmp"))
    try:
        out = workdir / "release.tgz"
        write_compiled_release(out, name, version, manifest.get("commit_hash"), jobs, compiled)
        blob_id, digest = director.blobstore.put_file(out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with director.sessions.begin() as session:
        session.add(Event(action="export", object_type="release", object_name=f"{name}/{version}",
                          deployment_name=deployment, task_id=ctx.id,
                          context={"stemcell": f"{os_name}/{os_version}", "sha1": digest}))
    return blob_id


async def run(director: Director, ctx: TaskContext, deployment: str, name: str, version: str, os_name: str,
              os_version: str) -> str:
    check_exportable(director, deployment, name, version, os_name, os_version)
    await compile_for_export(director, ctx, deployment, name, version, os_name, os_version)
    stage = ctx.log.stage("Exporting release", 1)
    with stage.task(f"{name}/{version} for {os_name}/{os_version}"):
        return await asyncio.to_thread(_export, director, ctx, deployment, name, version, os_name, os_version)


def is_export_blob(director: Director, blob_id: str) -> bool:
    """True for a blob a finished export task produced (and nothing else)."""
    with director.sessions() as session:
        return session.scalars(select(Task.id).where(
            Task.description.like(f"{EXPORT_DESCRIPTION}%"), Task.state == "done",
            Task.result == blob_id)).first() is not None
