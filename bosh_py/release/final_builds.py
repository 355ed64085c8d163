"""Final builds of jobs and packages, and the local final-release blobstore that holds them.

BOSH keeps a final release's archives out of the release directory: each job and package
build is recorded in ``.final_builds/{jobs,packages}/<name>/index.yml`` (keyed by
fingerprint: version, blobstore id, digest) and its archive lives in the blobstore that
``config/final.yml`` names. ``create-release --final`` and ``vendor-package`` write them;
``create-release`` reads them for vendored packages. bosh-py offers the ``local`` provider:

```yaml
blobstore:
  provider: local
  options: {blobstore_path: .final_blobstore}   # relative to the release directory
```

A blob is read back only when its digest matches the index, so a damaged or swapped
archive is never put in a release.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .digest import sha256_file
from .errors import ReleaseError

Kind = Literal["jobs", "packages"]
INDEX_FORMAT_VERSION = "2"
_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class FinalBuild:
    """One ``builds/<fingerprint>`` entry of a ``.final_builds`` index."""

    fingerprint: str
    version: str
    blobstore_id: str
    sha1: str  # ``sha256:<hex>`` of the archive (BOSH's field name)

    def to_yaml(self) -> dict[str, str]:
        return {"version": self.version, "blobstore_id": self.blobstore_id, "sha1": self.sha1}


@dataclass(frozen=True)
class FinalBlobstore:
    """A directory of blobs named by id: the ``local`` provider of ``config/final.yml``."""

    root: Path

    def path(self, blob_id: str) -> Path:
        if not _BLOB_ID.match(blob_id):
            raise ReleaseError(f"{self.root}: blob id {blob_id!r} is not a 32-hex-digit id")
        return self.root / blob_id

    def put(self, source: Path) -> str:
        """Copy ``source`` in under a new id (written aside, then renamed: never half a blob)."""
        self.root.mkdir(parents=True, exist_ok=True)
        blob_id = uuid.uuid4().hex
        tmp = self.root / f".{blob_id}.tmp"
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, self.root / blob_id)
        finally:
            tmp.unlink(missing_ok=True)
        return blob_id


def final_blobstore(release_dir: Path) -> FinalBlobstore:
    """The final blobstore ``config/final.yml`` names; a clear error if it names none."""
    final = release_dir / "config" / "final.yml"
    try:
        data = yaml.safe_load(final.read_text()) or {}
    except FileNotFoundError:
        raise ReleaseError(f"{final}: file is missing") from None
    except yaml.YAMLError as e:
        raise ReleaseError(f"{final}: invalid YAML: {e}") from None
    example = "blobstore: {provider: local, options: {blobstore_path: .final_blobstore}}"
    store = data.get("blobstore") if isinstance(data, dict) else None
    if not isinstance(store, dict):
        raise ReleaseError(f"{final}: blobstore: final builds need a final-release blobstore, e.g. {example}")
    if store.get("provider") != "local":
        raise ReleaseError(f"{final}: blobstore/provider: {store.get('provider')!r} is not supported "
                           f"(bosh-py offers 'local': {example})")
    options = store.get("options")
    path = options.get("blobstore_path") if isinstance(options, dict) else None
    if not isinstance(path, str) or not path:
        raise ReleaseError(f"{final}: blobstore/options/blobstore_path: a directory is required ({example})")
    return FinalBlobstore((release_dir / path).resolve())


def index_path(release_dir: Path, kind: Kind, name: str) -> Path:
    return release_dir / ".final_builds" / kind / name / "index.yml"


def read_index(path: Path, keyed_by: str = "fingerprint") -> dict[str, Any]:
    """A ``.final_builds`` or ``dev_releases``/``releases`` index.yml (builds keyed by
    fingerprint or by version); an empty one when the file does not exist yet."""
    if not path.is_file():
        return {"builds": {}, "format-version": INDEX_FORMAT_VERSION}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ReleaseError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("builds", {}), dict):
        raise ReleaseError(f"{path}: builds: expected a mapping of {keyed_by} to build")
    data.setdefault("builds", {})
    return data


def find_final_build(release_dir: Path, kind: Kind, name: str, fingerprint: str) -> FinalBuild | None:
    path = index_path(release_dir, kind, name)
    entry = read_index(path)["builds"].get(fingerprint)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("blobstore_id", "sha1")):
        raise ReleaseError(f"{path}: builds/{fingerprint}: expected version, blobstore_id and sha1")
    return FinalBuild(fingerprint, str(entry.get("version", fingerprint)), entry["blobstore_id"], entry["sha1"])


def record_final_build(release_dir: Path, kind: Kind, name: str, build: FinalBuild) -> None:
    path = index_path(release_dir, kind, name)
    index = read_index(path)
    index["builds"][build.fingerprint] = build.to_yaml()
    index["format-version"] = INDEX_FORMAT_VERSION
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(yaml.safe_dump(index, sort_keys=True))
    os.replace(tmp, path)


def final_build_archive(release_dir: Path, kind: Kind, name: str, fingerprint: str) -> tuple[FinalBuild, Path] | None:
    """The recorded build with ``fingerprint`` and its archive, checked against its digest.

    None when nothing is recorded or the blob is absent; a blob whose digest differs from
    the index is an error (someone changed the blobstore), never silently used.
    """
    build = find_final_build(release_dir, kind, name, fingerprint)
    if build is None:
        return None
    blob = final_blobstore(release_dir).path(build.blobstore_id)
    if not blob.is_file():
        return None
    actual = sha256_file(blob)
    if actual != build.sha1:
        raise ReleaseError(f"{blob}: {kind[:-1]} '{name}' final build {fingerprint[:12]}: digest {actual} "
                           f"does not match {build.sha1} in {index_path(release_dir, kind, name)}")
    return build, blob


def store_final_build(release_dir: Path, kind: Kind, name: str, fingerprint: str,
                      archive: Path) -> tuple[FinalBuild, Path]:
    """Put ``archive`` in the final blobstore and record it under ``fingerprint``."""
    store = final_blobstore(release_dir)
    build = FinalBuild(fingerprint, fingerprint, store.put(archive), sha256_file(archive))
    record_final_build(release_dir, kind, name, build)
    return build, store.path(build.blobstore_id)
