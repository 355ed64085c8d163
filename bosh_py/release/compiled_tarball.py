"""Compiled releases, as BOSH's ``export-release`` writes them: ``release.MF`` lists the jobs
and, instead of ``packages``, ``compiled_packages`` (name, version, fingerprint, sha1,
dependencies and the stemcell ``OS/VERSION`` they were compiled for); the tarball holds
``jobs/<name>.tgz`` and ``compiled_packages/<name>.tgz``. ``open_release_tarball`` reads it
like any release and checks every archive against its digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import ReleaseError
from .tgz import TarEntry, write_tgz_file


def split_stemcell(value: str, where: str) -> tuple[str, str]:
    """``"debian-bookworm/1.1"`` -> (os, version); anything else is an error naming ``where``."""
    os_name, _, version = value.partition("/")
    if not os_name or not version or "/" in version:
        raise ReleaseError(f"{where}: expected OS/VERSION (e.g. debian-bookworm/1.1), got '{value}'")
    return os_name, version


@dataclass(frozen=True)
class ArchiveFile:
    """One job or compiled package to put in the tarball: its release.MF entry and its file."""

    entry: dict
    path: Path


def write_compiled_release(out: Path, name: str, version: str, commit_hash: str | None,
                           jobs: list[ArchiveFile], compiled: list[ArchiveFile]) -> None:
    """Write the tarball atomically; the entries' ``sha1`` must already be their files' digests."""
    manifest: dict = {"name": name, "version": version}
    if commit_hash:
        manifest["commit_hash"] = commit_hash
    manifest["jobs"] = [j.entry for j in jobs]
    manifest["compiled_packages"] = [c.entry for c in compiled]
    entries = [TarEntry("release.MF", 0o644, data=yaml.safe_dump(manifest, sort_keys=False).encode())]
    entries += [TarEntry(f"jobs/{j.entry['name']}.tgz", 0o644, source=j.path) for j in jobs]
    entries += [TarEntry(f"compiled_packages/{c.entry['name']}.tgz", 0o644, source=c.path) for c in compiled]
    write_tgz_file(entries, out)
