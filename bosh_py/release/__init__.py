"""The release part: release format, create-release, fingerprints, tarballs, rendering.

Public API (what the CLI and the director call):

- ``read_release_dir(dir) -> ReleaseSource``: read and check a release directory.
- ``create_release(dir, tarball=None, version=None, force=False) -> CreatedRelease``.
- ``open_release_tarball(path, dest_dir) -> ReleaseManifest``: safe extract + verify.
- ``read_job_archive(path_or_bytes) -> JobArchive``.
- ``validate_job_properties(job_spec, properties, path_prefix) -> list[str]``.
- ``link_from_provider(...)``, ``render_instance_jobs(jobs, instance_spec, links) -> RenderedInstance``.

Errors: ``ReleaseError`` and ``RenderError``, both ``BoshPyError``.
"""

from .create import CreatedRelease, create_release
from .errors import ReleaseError, RenderError
from .fingerprint import FileEntry, fingerprint
from .layout import JobSource, PackageSource, ReleaseSource, read_release_dir, topological_order
from .models import (CompiledPackageRef, JobRef, JobSpec, LinkConsumes, LinkProvides, PackageRef,
                     PackageSpec, PropertyDef, ReleaseManifest)
from .properties import effective_properties, link_properties, validate_job_properties
from .tarball import JobArchive, open_release_tarball, read_job_archive
from .render import JobForRender, Link, RenderedInstance, link_from_provider, render_instance_jobs

__all__ = [
    "CompiledPackageRef", "CreatedRelease", "FileEntry", "JobArchive", "JobForRender", "JobRef",
    "JobSource", "JobSpec", "Link", "LinkConsumes", "LinkProvides", "PackageRef", "PackageSource",
    "PackageSpec", "PropertyDef", "ReleaseError", "ReleaseManifest", "ReleaseSource", "RenderError",
    "RenderedInstance", "create_release", "effective_properties", "fingerprint", "link_from_provider",
    "link_properties", "open_release_tarball", "read_job_archive", "read_release_dir",
    "render_instance_jobs", "topological_order", "validate_job_properties",
]
