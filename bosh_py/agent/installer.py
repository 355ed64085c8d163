"""Install packages and rendered jobs the BOSH way: content lives in versioned directories
under /var/vcap/data, and /var/vcap/packages/<name>, /var/vcap/jobs/<job> are symlinks
switched atomically, so a running process never sees a half-installed tree and a re-apply
of what is already there downloads nothing.

- package: ``data/packages/<name>/<version>``, marker ``data/packages/<name>/.<version>.digest``
  (the marker is written last: a crash mid-extract leaves no marker, so it is redone).
- jobs: the rendered archive (top-level directory per job) is extracted once per archive
  digest; each job goes to ``data/jobs/<job>/<content-hash>``, so an unchanged job keeps
  its directory (and its processes keep running) when another job of the VM changes.
  Rendered jobs hold secrets: ``jobs`` and ``data/jobs`` are 0700, their files owner-only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from bosh_py.agent.archive import safe_extract
from bosh_py.agent.blobstore import BlobstoreClient
from bosh_py.agent.digest import Digest
from bosh_py.agent.errors import AgentActionError
from bosh_py.agent.paths import Paths
from bosh_py.agent.settings import write_json_private


def check_name(kind: str, value: Any) -> str:
    """Names and versions become path components."""
    text = str(value or "")
    if not text or "/" in text or text in (".", "..") or text.startswith(".") or "\0" in text:
        raise AgentActionError(f"Invalid {kind} {value!r}")
    return text


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (rename over the old link)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(target, tmp)
    os.replace(tmp, link)


def tree_hash(root: Path) -> str:
    """Digest of a directory's names, exec bits, contents and link targets."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                h.update(f"L {rel} {os.readlink(full)}\0".encode())
                continue
            mode = os.stat(full).st_mode
            h.update(f"F {rel} {1 if mode & 0o111 else 0}\0".encode())
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def make_private(root: Path) -> None:
    """Owner-only modes for a rendered job (its templates hold the deployment's properties,
    passwords included): directories 0700, files keep only their owner bits. Job processes
    run as root; nothing else on the VM, an app least of all, has a reason to read them."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, os.stat(full).st_mode & 0o700)


class Installer:
    def __init__(self, paths: Paths, blobstore: BlobstoreClient, log: logging.Logger):
        self.paths = paths
        self.blobstore = blobstore
        self.log = log

    # --- packages -----------------------------------------------------------------------

    def package_dir(self, name: str, version: str) -> Path:
        return self.paths.data_packages / check_name("package name", name) / check_name("package version", version)

    def _package_marker(self, name: str, version: str) -> Path:
        return self.paths.data_packages / name / f".{version}.digest"

    def install_package(self, name: str, version: str, blobstore_id: str, digest: str) -> Path:
        """Download, verify and extract a compiled package (skipped when already there)."""
        target = self.package_dir(name, version)
        marker = self._package_marker(name, version)
        want = str(Digest.parse(digest))
        if target.is_dir() and marker.is_file() and marker.read_text().strip() == want:
            return target
        self.log.info("installing package %s/%s (blob %s)", name, version, blobstore_id)
        self.paths.tmp.mkdir(parents=True, exist_ok=True)
        blob = self.paths.tmp / f"pkg-{uuid.uuid4().hex}.tgz"
        staging = target.parent / f".{version}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.blobstore.get(blobstore_id, blob, digest)
            safe_extract(blob, staging)
            marker.unlink(missing_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
            marker.write_text(want + "\n")
        finally:
            blob.unlink(missing_ok=True)
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return target

    def link_package(self, name: str, version: str) -> None:
        replace_symlink(self.paths.packages / name, f"../data/packages/{name}/{version}")

    # --- jobs ---------------------------------------------------------------------------

    def _archive_index(self, digest: Digest) -> Path:
        return self.paths.data_jobs / ".archives" / f"{digest.key}.json"

    def fetch_jobs(self, archive: dict[str, Any]) -> dict[str, str]:
        """Install the rendered templates archive; return ``{job: content_hash}``."""
        blob_id = archive.get("blobstore_id")
        digest_text = archive.get("sha1") or archive.get("digest")
        if not blob_id or not digest_text:
            raise AgentActionError("rendered_templates_archive needs blobstore_id and sha1")
        digest = Digest.parse(digest_text)
        index = self._archive_index(digest)
        if index.is_file():
            jobs = json.loads(index.read_text())
            if all((self.paths.data_jobs / j / h).is_dir() for j, h in jobs.items()):
                return jobs
        self.log.info("installing rendered jobs (blob %s)", blob_id)
        self.paths.tmp.mkdir(parents=True, exist_ok=True)
        for private in (self.paths.jobs, self.paths.data_jobs):
            private.mkdir(parents=True, exist_ok=True)
            os.chmod(private, 0o700)
        blob = self.paths.tmp / f"jobs-{uuid.uuid4().hex}.tgz"
        staging = self.paths.data_jobs / f".extract-{uuid.uuid4().hex[:8]}"
        jobs: dict[str, str] = {}
        try:
            self.blobstore.get(blob_id, blob, digest_text)
            safe_extract(blob, staging)
            for job_dir in sorted(staging.iterdir()):
                if not job_dir.is_dir() or job_dir.is_symlink():
                    continue
                job = check_name("job name", job_dir.name)
                bin_dir = job_dir / "bin"
                if bin_dir.is_dir():  # BOSH makes everything in bin/ executable
                    for f in bin_dir.iterdir():
                        if f.is_file() and not f.is_symlink():
                            f.chmod(f.stat().st_mode | 0o700)
                make_private(job_dir)
                h = tree_hash(job_dir)[:40]
                target = self.paths.data_jobs / job / h
                if not target.is_dir():
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    os.replace(job_dir, target)
                jobs[job] = h
            index.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_json_private(index, jobs)
        finally:
            blob.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
        return jobs

    def link_job(self, job: str, content_hash: str) -> None:
        replace_symlink(self.paths.jobs / job, f"../data/jobs/{job}/{content_hash}")
        for d in self.paths.job_dirs(job):
            d.mkdir(parents=True, exist_ok=True)

    # --- cleanup ------------------------------------------------------------------------

    def cleanup(self, packages: dict[str, str], jobs: dict[str, str],
                archive_digest: Digest | None) -> None:
        """Remove links and installed content the spec no longer names."""
        _prune_links(self.paths.packages, set(packages))
        _prune_links(self.paths.jobs, set(jobs))
        _prune_versions(self.paths.data_packages, packages, markers=True)
        _prune_versions(self.paths.data_jobs, jobs, markers=False)
        archives = self.paths.data_jobs / ".archives"
        if archives.is_dir():
            for f in archives.iterdir():
                if archive_digest is None or f.name != f"{archive_digest.key}.json":
                    f.unlink(missing_ok=True)


def _prune_links(directory: Path, keep: set[str]) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.name not in keep and not entry.name.startswith("."):
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _prune_versions(directory: Path, keep: dict[str, str], markers: bool) -> None:
    if not directory.is_dir():
        return
    for name_dir in directory.iterdir():
        if name_dir.name.startswith("."):
            continue
        if name_dir.name not in keep:
            shutil.rmtree(name_dir, ignore_errors=True)
            continue
        for entry in name_dir.iterdir():
            wanted = keep[name_dir.name]
            if entry.name == wanted or (markers and entry.name == f".{wanted}.digest"):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
