"""Compiling packages on compilation VMs, dependencies first, each once per stemcell.

A compiled package is cached by (package fingerprint, stemcell OS and version, dependency
key); the dependency key covers the whole dependency tree, so a change deep down recompiles
everything above it and nothing else. Up to ``workers`` VMs compile in parallel; they are
always deleted at the end, even when a compile fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextlib import suppress
from dataclasses import dataclass
from typing import Awaitable, Callable

from sqlalchemy import select

from bosh_py.director.blobstore import new_blob_id, sha256_digest_of_file
from bosh_py.director.event_log import TaskLog
from bosh_py.director.models import CompiledPackage
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError


class CompilationError(BoshPyError):
    pass


@dataclass(frozen=True)
class SourcePackage:
    release: str
    name: str
    fingerprint: str
    dependencies: tuple[str, ...]
    blobstore_id: str
    sha1: str


@dataclass(frozen=True)
class StemcellRef:
    """A stemcell version, with its cid in each CPI that holds a copy (``(cpi, cid)`` pairs)."""

    name: str
    operating_system: str
    version: str
    cids: tuple[tuple[str, str], ...] = ()

    def cid_in(self, cpi: str) -> str | None:
        return dict(self.cids).get(cpi)


@dataclass(frozen=True)
class CompiledRef:
    name: str
    version: str
    blobstore_id: str
    sha1: str

    def as_spec(self) -> dict:
        return {"name": self.name, "version": self.version, "blobstore_id": self.blobstore_id, "sha1": self.sha1}


# Creates a compilation VM and returns (agent_id, delete coroutine factory).
VmFactory = Callable[[int], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]


def dependency_keys(packages: dict[tuple[str, str], SourcePackage]) -> dict[tuple[str, str], str]:
    keys: dict[tuple[str, str], str] = {}

    def key_of(ref: tuple[str, str], trail: tuple[tuple[str, str], ...]) -> str:
        if ref in keys:
            return keys[ref]
        if ref in trail:
            raise CompilationError(f"Package dependency cycle: {' -> '.join(n for _, n in trail + (ref,))}")
        package = packages[ref]
        parts = []
        for dep in sorted(package.dependencies):
            dep_ref = (package.release, dep)
            if dep_ref not in packages:
                raise CompilationError(f"Package '{package.name}' depends on unknown package '{dep}'")
            parts.append([dep, packages[dep_ref].fingerprint, key_of(dep_ref, trail + (ref,))])
        keys[ref] = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
        return keys[ref]

    for ref in packages:
        key_of(ref, ())
    return keys


def transitive_dependencies(packages: dict[tuple[str, str], SourcePackage], ref: tuple[str, str]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    stack = [ref]
    while stack:
        package = packages[stack.pop()]
        for dep in package.dependencies:
            dep_ref = (package.release, dep)
            if dep_ref not in found:
                found.add(dep_ref)
                stack.append(dep_ref)
    return found


def cached(director: Director, package: SourcePackage, stemcell: StemcellRef, dep_key: str) -> CompiledRef | None:
    with director.sessions() as session:
        row = session.scalars(select(CompiledPackage).where(
            CompiledPackage.package_fingerprint == package.fingerprint,
            CompiledPackage.stemcell_os == stemcell.operating_system,
            CompiledPackage.stemcell_version == stemcell.version,
            CompiledPackage.dependency_key == dep_key,
        )).first()
    if row is None or not director.blobstore.exists(row.blobstore_id):
        return None
    return CompiledRef(package.name, package.fingerprint, row.blobstore_id, row.sha1)


def record(director: Director, package: SourcePackage, stemcell: StemcellRef, dep_key: str, ref: CompiledRef) -> None:
    """Insert, or replace a row whose blob went missing (or that another release's identical
    package recorded meanwhile): one row per cache key, whose blob is the newest."""
    with director.sessions.begin() as session:
        row = session.scalars(select(CompiledPackage).where(
            CompiledPackage.package_fingerprint == package.fingerprint,
            CompiledPackage.stemcell_os == stemcell.operating_system,
            CompiledPackage.stemcell_version == stemcell.version,
            CompiledPackage.dependency_key == dep_key)).first()
        if row is None:
            session.add(CompiledPackage(name=package.name, package_fingerprint=package.fingerprint,
                                        stemcell_os=stemcell.operating_system, stemcell_version=stemcell.version,
                                        dependency_key=dep_key, blobstore_id=ref.blobstore_id, sha1=ref.sha1))
            return
        replaced = row.blobstore_id
        row.blobstore_id, row.sha1 = ref.blobstore_id, ref.sha1
    if replaced != ref.blobstore_id:
        director.blobstore.delete(replaced)


async def compiled_result(director: Director, package: SourcePackage, result_id: str, value: dict) -> CompiledRef:
    """The compiled package the agent uploaded to ``result_id`` (AgentClient already refused
    a reply naming another blob). The digest recorded is the one computed here from the
    stored blob; an agent's differing claim fails the compile."""
    if not director.blobstore.exists(result_id):
        raise CompilationError(f"Compiling package '{package.name}': the agent did not upload blob {result_id}")
    path = await asyncio.to_thread(director.blobstore.get_path, result_id)  # S3: may download
    digest = await asyncio.to_thread(sha256_digest_of_file, path)
    claimed = (value.get("result") or {}).get("sha1") if isinstance(value, dict) else None
    if claimed != digest:
        raise CompilationError(f"Compiling package '{package.name}': the agent reported digest {claimed!r} "
                               f"but blob {result_id} has {digest}")
    return CompiledRef(package.name, package.fingerprint, result_id, digest)


async def compile_packages(director: Director, packages: dict[tuple[str, str], SourcePackage],
                           stemcell: StemcellRef, workers: int, create_vm: VmFactory,
                           log: TaskLog) -> dict[tuple[str, str], CompiledRef]:
    keys = dependency_keys(packages)
    results: dict[tuple[str, str], CompiledRef] = {}
    todo = []
    for ref, package in packages.items():
        hit = cached(director, package, stemcell, keys[ref])
        if hit:
            results[ref] = hit
        else:
            todo.append(ref)
    if not todo:
        return results
    sourceless = sorted(f"{packages[ref].release}/{packages[ref].name}" for ref in todo if not packages[ref].blobstore_id)
    if sourceless:  # from a compiled release, for another stemcell: nothing to compile from
        raise CompilationError(f"Package(s) {', '.join(sourceless)} came compiled, without source, and are not "
                               f"compiled for stemcell {stemcell.operating_system}/{stemcell.version}: upload the "
                               f"source release or a release compiled for that stemcell")

    # Releases that vendor one package carry identical copies (same fingerprint and
    # dependencies): compile it once and share the result. Compiled apart, each would record
    # the one cache row in turn and delete the blob another copy's instances were given.
    leaders: dict[tuple[str, str], tuple[str, str]] = {}
    for ref in todo:
        leaders.setdefault((packages[ref].fingerprint, keys[ref]), ref)
    stage = log.stage("Compiling packages", len(set(leaders.values())))
    pool: asyncio.Queue[str] = asyncio.Queue()
    deleters: list[Callable[[], Awaitable[None]]] = []
    vm_slots = asyncio.Semaphore(max(1, workers))
    created = 0
    done: dict[tuple[str, str], asyncio.Event] = {ref: asyncio.Event() for ref in todo}

    async def borrow_vm() -> str:
        nonlocal created
        if pool.empty() and created < max(1, workers):
            created += 1
            agent_id, deleter = await create_vm(created)
            deleters.append(deleter)
            return agent_id
        return await pool.get()

    async def compile_one(ref: tuple[str, str]) -> None:
        package = packages[ref]
        leader = leaders[(package.fingerprint, keys[ref])]
        if leader != ref:
            await done[leader].wait()
            results[ref] = results[leader]
            done[ref].set()
            return
        for dependency in package.dependencies:
            event = done.get((package.release, dependency))
            if event is not None:  # None: it came from the cache
                await event.wait()
        async with vm_slots:
            with stage.task(f"{package.name}/{package.fingerprint[:12]}"):
                agent_id = await borrow_vm()
                result_id = new_blob_id()  # the one blob this agent may write, once
                try:
                    deps = {packages[d].name: results[d].as_spec() for d in transitive_dependencies(packages, ref)}
                    value = await director.agent(agent_id).run(
                        "compile_package", package.blobstore_id, package.sha1, package.name,
                        package.fingerprint, deps, result_id)
                    results[ref] = await compiled_result(director, package, result_id, value)
                except BaseException:
                    director.blobstore.delete(result_id)  # recorded nowhere
                    raise
                finally:
                    pool.put_nowait(agent_id)
        record(director, package, stemcell, keys[ref], results[ref])
        done[ref].set()

    jobs = [asyncio.create_task(compile_one(ref)) for ref in todo]
    try:
        await _first_failure(jobs)
    finally:
        for job in jobs:
            job.cancel()
        with suppress(Exception):
            await asyncio.gather(*jobs, return_exceptions=True)
        await asyncio.shield(asyncio.gather(*(deleter() for deleter in deleters), return_exceptions=True))
    return results


async def _first_failure(jobs: list[asyncio.Task]) -> None:
    """Wait for all; on the first failure stop waiting and raise it."""
    pending = set(jobs)
    while pending:
        finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        for job in finished:
            if job.exception() is not None:
                raise job.exception()  # type: ignore[misc]
