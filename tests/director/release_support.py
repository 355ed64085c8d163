"""What the release tooling tests share: a small release with a job and a package written on
the fly, a compiled release made from a source tarball, and a file server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bosh_py.release.compiled_tarball import ArchiveFile, write_compiled_release
from tests.director.live_director import write_release
from tests.harness import LocalDirector


def kv_release(root: Path, template: str = "port={{ p('port') }}\n", data: str = "hello\n",
               name: str = "kv") -> Path:
    """Release NAME: job ``kv`` (one template, package ``data``), package ``data`` (one file)."""
    write_release(root, name, {"kv": {"kv.conf": template}})
    spec_path = root / "jobs/kv/spec"
    spec = yaml.safe_load(spec_path.read_text())
    spec.update(packages=["data"], properties={"port": {"default": 8080}})
    spec_path.write_text(yaml.safe_dump(spec))
    (root / "packages/data").mkdir(parents=True, exist_ok=True)
    (root / "src/data").mkdir(parents=True, exist_ok=True)
    (root / "src/data/data.txt").write_text(data)
    (root / "packages/data/spec").write_text("name: data\ndependencies: []\nfiles:\n- data/data.txt\n")
    (root / "packages/data/packaging").write_text("cp data/data.txt ${BOSH_INSTALL_TARGET}/\n")
    return root


def create(director: LocalDirector, release_dir: Path, tarball: Path, version: str = "0+dev.1") -> Path:
    """create-release as in a fresh copy of the directory (no dev release index, as a clone
    has none), so the same version can be built with other content."""
    for state in ("dev_releases", ".dev_builds"):
        shutil.rmtree(release_dir / state, ignore_errors=True)
    director.cli("create-release", str(release_dir), "--tarball", str(tarball), "--version", version)
    return tarball


def release_mf(tarball: Path) -> dict:
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("release.MF")
        assert member is not None
        return yaml.safe_load(member.read())


def compiled_from(source: Path, out: Path, stemcell: str) -> Path:
    """A compiled release of ``source`` for ``stemcell`` (OS/VERSION) whose "compiled" packages
    are the source archives themselves: enough for the director's bookkeeping."""
    work = out.parent / f"{out.name}.d"
    with tarfile.open(source) as tar:
        tar.extractall(work, filter="data")
    manifest = yaml.safe_load((work / "release.MF").read_text())
    jobs = [ArchiveFile(j, work / "jobs" / f"{j['name']}.tgz") for j in manifest["jobs"]]
    compiled = [ArchiveFile({"name": p["name"], "version": p["version"], "fingerprint": p["fingerprint"],
                             "sha1": p["sha1"], "stemcell": stemcell, "dependencies": p.get("dependencies", [])},
                            work / "packages" / f"{p['name']}.tgz") for p in manifest["packages"]]
    write_compiled_release(out, manifest["name"], manifest["version"], manifest.get("commit_hash"), jobs, compiled)
    return out


def sha1_of(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@dataclass
class FileServer:
    url: str
    requests: list[str] = field(default_factory=list)


@contextmanager
def serve_directory(directory: Path) -> Iterator[FileServer]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) for the test's duration."""
    server_info = FileServer("")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:  # http.server's name for it
            server_info.requests.append(self.path)
            super().do_GET()

        def log_message(self, *_args) -> None:  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_info.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_info
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def blob_files(director: LocalDirector) -> set[str]:
    return {p.name for p in (director.data_dir / "blobstore").glob("??/*")}
