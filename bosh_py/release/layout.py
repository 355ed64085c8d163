"""Reading a release directory in BOSH layout, with errors that name file and field.

```
config/final.yml             name
jobs/<job>/spec              JobSpec
jobs/<job>/monit             processes the agent supervises (YAML, rendered)
jobs/<job>/templates/*       Jinja2 templates named by spec.templates
packages/<pkg>/spec          PackageSpec (files: globs under src/, then blobs/)
packages/<pkg>/packaging     bash build script
packages/<pkg>/spec.lock     instead of spec + packaging: a vendored package (name,
                             fingerprint), taken from .final_builds (see vendor.py)
```

Everything is checked before anything is built: unknown packages referenced by jobs or as
dependencies, dependency cycles, missing templates, globs that match nothing. The result
(``ReleaseSource``) lists the exact files each job and package archive will hold, which is
also what their fingerprints are computed over.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ReleaseError
from .fingerprint import FileEntry, fingerprint
from .models import JobSpec, PackageSpec, format_validation_error
from .safe_tar import is_safe_relative_path

FINGERPRINT_RE = re.compile(r"^[0-9a-f]{40,64}$")


@dataclass
class JobSource:
    name: str
    spec: JobSpec
    directory: Path
    files: list[FileEntry]  # job.MF (the spec), monit, templates/<src>

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.files)


@dataclass
class PackageSource:
    name: str
    spec: PackageSpec
    directory: Path
    files: list[FileEntry]  # packaging + the matched files at their relative paths
    locked_fingerprint: str | None = None  # set for a vendored package (spec.lock): no files here

    @property
    def vendored(self) -> bool:
        return self.locked_fingerprint is not None

    @property
    def fingerprint(self) -> str:
        if self.locked_fingerprint is not None:
            return self.locked_fingerprint
        return fingerprint(self.files, self.spec.dependencies)


@dataclass
class ReleaseSource:
    name: str
    directory: Path
    jobs: dict[str, JobSource] = field(default_factory=dict)
    packages: dict[str, PackageSource] = field(default_factory=dict)

    def packages_in_dependency_order(self) -> list[str]:
        """Package names with every dependency before its dependents (name order otherwise)."""
        return topological_order({n: p.spec.dependencies for n, p in self.packages.items()})


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ReleaseError(f"{path}: file is missing") from None
    except OSError as e:
        raise ReleaseError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ReleaseError(f"{path}: invalid YAML: {e}") from None


def _parse(model: type, path: Path) -> Any:
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: expected a YAML mapping")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ReleaseError("\n".join(f"{path}: {line}" for line in format_validation_error(e))) from None


def read_release_name(release_dir: Path) -> str:
    final = release_dir / "config" / "final.yml"
    data = _load_yaml(final)
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise ReleaseError(f"{final}: name: a release name is required")
    return name


def read_job(job_dir: Path) -> JobSource:
    spec_path = job_dir / "spec"
    spec: JobSpec = _parse(JobSpec, spec_path)
    if spec.name != job_dir.name:
        raise ReleaseError(f"{spec_path}: name: '{spec.name}' does not match the directory name '{job_dir.name}'")
    monit = job_dir / "monit"
    if not monit.is_file():
        raise ReleaseError(f"{monit}: file is missing (every job needs one, even with no processes)")
    files = [FileEntry("job.MF", spec_path), FileEntry("monit", monit)]
    seen_dest: dict[str, str] = {}
    for src, dest in spec.templates.items():
        if not is_safe_relative_path(src):
            raise ReleaseError(f"{spec_path}: templates/{src}: template source must be a relative path inside templates/")
        if not is_safe_relative_path(dest):
            raise ReleaseError(f"{spec_path}: templates/{src}: destination '{dest}' must be a relative path inside the job directory")
        dest_norm = posixpath.normpath(dest)
        if dest_norm == "monit":
            raise ReleaseError(f"{spec_path}: templates/{src}: destination 'monit' is reserved for the job's monit file")
        if dest_norm in seen_dest:
            raise ReleaseError(f"{spec_path}: templates/{src}: destination '{dest}' is also used by '{seen_dest[dest_norm]}'")
        seen_dest[dest_norm] = src
        template = job_dir / "templates" / src
        if not template.is_file():
            raise ReleaseError(f"{spec_path}: templates/{src}: template file {template} is missing")
        files.append(FileEntry(f"templates/{posixpath.normpath(src)}", template))
    declared = set(spec.properties)
    for i, provides in enumerate(spec.provides):
        for j, prop in enumerate(provides.properties):
            if prop not in declared:
                raise ReleaseError(
                    f"{spec_path}: provides/{i}/properties/{j}: property '{prop}' is not declared under properties"
                )
    return JobSource(spec.name, spec, job_dir, files)


def _glob_files(root: Path, pattern: str) -> list[str]:
    """Files (not directories) under ``root`` matching ``pattern``, as relative posix paths."""
    if not root.is_dir():
        return []
    matches = glob.glob(pattern, root_dir=root, recursive=True)
    return sorted(m.replace(os.sep, "/") for m in matches if (root / m).is_file())


def read_vendored_package(pkg_dir: Path) -> PackageSource:
    """A package directory holding only ``spec.lock``: name, fingerprint and dependencies of
    a final build that ``vendor-package`` copied into this release's final blobstore."""
    lock_path = pkg_dir / "spec.lock"
    data = _load_yaml(lock_path)
    if not isinstance(data, dict):
        raise ReleaseError(f"{lock_path}: expected a YAML mapping with name and fingerprint")
    name, fp, deps = data.get("name"), data.get("fingerprint"), data.get("dependencies") or []
    if name != pkg_dir.name:
        raise ReleaseError(f"{lock_path}: name: '{name}' does not match the directory name '{pkg_dir.name}'")
    if not isinstance(fp, str) or not FINGERPRINT_RE.match(fp):
        raise ReleaseError(f"{lock_path}: fingerprint: expected a hex fingerprint, got {fp!r}")
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ReleaseError(f"{lock_path}: dependencies: expected a list of package names")
    return PackageSource(name, PackageSpec(name=name, dependencies=deps), pkg_dir, [], locked_fingerprint=fp)


def read_package(pkg_dir: Path, release_dir: Path) -> PackageSource:
    spec_path = pkg_dir / "spec"
    if not spec_path.exists() and (pkg_dir / "spec.lock").exists():
        return read_vendored_package(pkg_dir)
    spec: PackageSpec = _parse(PackageSpec, spec_path)
    if spec.name != pkg_dir.name:
        raise ReleaseError(f"{spec_path}: name: '{spec.name}' does not match the directory name '{pkg_dir.name}'")
    packaging = pkg_dir / "packaging"
    if not packaging.is_file():
        raise ReleaseError(f"{packaging}: file is missing")
    src_root, blobs_root = release_dir / "src", release_dir / "blobs"
    chosen: dict[str, Path] = {}
    for i, pattern in enumerate(spec.files):
        if not is_safe_relative_path(pattern):
            raise ReleaseError(f"{spec_path}: files/{i}: '{pattern}' must be a relative path under src/ or blobs/")
        found = [(m, src_root / m) for m in _glob_files(src_root, pattern)]
        if not found:
            found = [(m, blobs_root / m) for m in _glob_files(blobs_root, pattern)]
        if not found:
            hint = " (blobs are not in git: run scripts/prepare-release-blobs?)" if not blobs_root.is_dir() else ""
            raise ReleaseError(f"{spec_path}: files/{i}: '{pattern}' matches no file in src/ or blobs/{hint}")
        for rel, path in found:
            chosen.setdefault(rel, path)
    for pattern in spec.excluded_files:
        for rel in list(chosen):
            if fnmatch.fnmatchcase(rel, pattern):
                del chosen[rel]
    if "packaging" in chosen:
        raise ReleaseError(f"{spec_path}: files: a file named 'packaging' at the top level would clash with the packaging script")
    files = [FileEntry("packaging", packaging)] + [FileEntry(rel, path) for rel, path in sorted(chosen.items())]
    return PackageSource(spec.name, spec, pkg_dir, files)


def topological_order(graph: dict[str, list[str]]) -> list[str]:
    """Nodes ordered dependencies-first; raises ReleaseError naming a cycle if there is one."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = path[path.index(node):] + [node]
            raise ReleaseError(f"package dependency cycle: {' -> '.join(cycle)}")
        state[node] = 1
        for dep in sorted(graph.get(node, [])):
            visit(dep, path + [node])
        state[node] = 2
        order.append(node)

    for node in sorted(graph):
        visit(node, [])
    return order


def read_release_dir(release_dir: str | Path) -> ReleaseSource:
    """Read and check a whole release directory; raises ReleaseError on the first problem."""
    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        raise ReleaseError(f"{release_dir}: not a release directory")
    release = ReleaseSource(read_release_name(release_dir), release_dir)
    jobs_dir, pkgs_dir = release_dir / "jobs", release_dir / "packages"
    if pkgs_dir.is_dir():
        for d in sorted(pkgs_dir.iterdir()):
            if d.is_dir():
                release.packages[d.name] = read_package(d, release_dir)
    if jobs_dir.is_dir():
        for d in sorted(jobs_dir.iterdir()):
            if d.is_dir():
                release.jobs[d.name] = read_job(d)
    for name, pkg in release.packages.items():
        for i, dep in enumerate(pkg.spec.dependencies):
            if dep not in release.packages:
                raise ReleaseError(f"{pkg.directory / 'spec'}: dependencies/{i}: package '{dep}' is not in this release")
    for name, job in release.jobs.items():
        for i, dep in enumerate(job.spec.packages):
            if dep not in release.packages:
                raise ReleaseError(f"{job.directory / 'spec'}: packages/{i}: package '{dep}' is not in this release")
    try:
        release.packages_in_dependency_order()
    except ReleaseError as e:
        raise ReleaseError(f"{pkgs_dir}: {e}") from None
    if not release.jobs and not release.packages:
        raise ReleaseError(f"{release_dir}: the release has no jobs and no packages")
    return release
