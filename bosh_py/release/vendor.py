"""``vendor-package``: take a package from another release as BOSH does.

Shared code travels between releases as a *vendored* package (BOSH's golang-release is the
model): the source release makes a final build of the package (its ``.final_builds`` index
and its final blobstore), the archive is copied into the target release's final blobstore
and index, and the target's ``packages/<name>/`` then holds only ``spec.lock`` (name,
fingerprint, dependencies). ``create-release`` in the target takes the archive with the
locked fingerprint from its own final builds, so the target builds without the source
release at hand. Dependencies of the package are vendored with it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from .create import build_archive
from .errors import ReleaseError
from .final_builds import final_blobstore, final_build_archive, store_final_build
from .layout import (
    ReleaseSource,
    read_release_dir,
    read_release_name,
    topological_order,
)


@dataclass(frozen=True)
class VendoredPackage:
    """One package written into the target release; ``copied`` False when it was already there."""

    name: str
    fingerprint: str
    copied: bool


def _closure(source: ReleaseSource, package: str) -> list[str]:
    """``package`` and everything it depends on, dependencies first."""
    wanted: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(source.packages[name].spec.dependencies)
    return topological_order({n: source.packages[n].spec.dependencies for n in wanted})


def _write_lock(pkg_dir: Path, name: str, fingerprint: str, dependencies: list[str]) -> None:
    """Make ``pkg_dir`` hold only ``spec.lock`` (a package of the same name is replaced)."""
    lock = {"name": name, "fingerprint": fingerprint}
    if dependencies:
        lock["dependencies"] = sorted(dependencies)
    if pkg_dir.is_symlink() or pkg_dir.is_file():
        pkg_dir.unlink()
    elif pkg_dir.is_dir():
        for child in pkg_dir.iterdir():
            if child.name != "spec.lock":
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    pkg_dir.mkdir(parents=True, exist_ok=True)
    tmp = pkg_dir / f".spec.lock.tmp-{os.getpid()}"
    tmp.write_text(yaml.safe_dump(lock, sort_keys=False))
    os.replace(tmp, pkg_dir / "spec.lock")


def vendor_package(package: str, source_dir: str | Path, target_dir: str | Path) -> list[VendoredPackage]:
    """Vendor ``package`` (and its dependencies) from ``source_dir`` into ``target_dir``."""
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    source = read_release_dir(source_dir)
    if package not in source.packages:
        have = ", ".join(sorted(source.packages)) or "none"
        raise ReleaseError(f"{source_dir}: release '{source.name}' has no package '{package}' (it has: {have})")
    if not target_dir.is_dir():
        raise ReleaseError(f"{target_dir}: not a release directory")
    target_name = read_release_name(target_dir)
    if target_dir.resolve() == source_dir.resolve():
        raise ReleaseError(f"{target_dir}: release '{target_name}' cannot vendor a package from itself")
    final_blobstore(source_dir)  # both must name a final blobstore before anything is written
    final_blobstore(target_dir)

    done: list[VendoredPackage] = []
    for name in _closure(source, package):
        pkg = source.packages[name]
        fp = pkg.fingerprint
        found = final_build_archive(source_dir, "packages", name, fp)
        if found is None:
            if pkg.vendored:
                raise ReleaseError(
                    f"{source_dir}: release '{source.name}' vendors package '{name}' (fingerprint {fp[:12]}) "
                    f"but has no final build of it; vendor it into '{source.name}' again first")
            found = store_final_build(source_dir, "packages", name, fp, build_archive(source_dir, "packages", pkg))
        _, blob = found
        copied = final_build_archive(target_dir, "packages", name, fp) is None
        if copied:
            store_final_build(target_dir, "packages", name, fp, blob)
        _write_lock(target_dir / "packages" / name, name, fp, pkg.spec.dependencies)
        done.append(VendoredPackage(name, fp, copied))
    return done
