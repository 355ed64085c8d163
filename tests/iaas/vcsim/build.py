"""Build govmomi's vcsim once from Debian's packages, cached by what went into it.

Debian ships govmomi's sources (golang-github-vmware-govmomi-dev 0.24.2) but no vcsim command;
golang-1.19 builds the short ``main.go`` beside this file against them in about 15 s, in GOPATH
mode and without network. The patches in ``patches/`` fix what keeps vcsim 0.24 from serving
pyvmomi 8+. The binary is cached under /var/cache/bosh-py/vcsim/<key>, the key being a digest of
the recipe (main.go, the patches, the govmomi and Go versions), so a changed recipe builds anew.

Usable as ``python -m tests.iaas.vcsim.build`` (prints the binary's path).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GO = Path("/usr/lib/go-1.19/bin/go")
GOCODE = Path("/usr/share/gocode/src")
GOVMOMI = GOCODE / "github.com/vmware/govmomi"
SOURCES = ("github.com/vmware/govmomi", "github.com/google/uuid")
CACHE = Path("/var/cache/bosh-py/vcsim")
PACKAGES = "golang-1.19-go golang-github-vmware-govmomi-dev"


class VcsimBuildError(RuntimeError):
    """vcsim cannot be built here; the message says what is missing or what failed."""


def recipe_key() -> str:
    """A digest of everything the binary is made from."""
    digest = hashlib.sha256()
    for path in [HERE / "main.go", *sorted((HERE / "patches").glob("*.patch"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for package in PACKAGES.split():
        digest.update(_package_version(package).encode())
    return digest.hexdigest()[:16]


def _package_version(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise VcsimBuildError(f"vcsim: Debian package {package} is not installed "
                              f"(scripts/setup installs {PACKAGES})")
    return done.stdout


def vcsim_binary() -> Path:
    """The cached vcsim for the current recipe, built first if needed (one builder at a time)."""
    if not GO.exists() or not (GOVMOMI / "simulator").is_dir():
        raise VcsimBuildError(f"vcsim: needs {GO} and govmomi's sources in {GOVMOMI} "
                              f"(scripts/setup installs {PACKAGES})")
    target = CACHE / recipe_key() / "vcsim"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _build(target)
    return target


def _build(target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="vcsim-build-") as tmp:
        gopath = Path(tmp) / "gopath"
        for source in SOURCES:
            shutil.copytree(GOCODE / source, gopath / "src" / source, symlinks=True)
        for patch in sorted((HERE / "patches").glob("*.patch")):
            _run(["patch", "-p1", "--forward", "--quiet", "-d", str(gopath / "src" / SOURCES[0]),
                  "-i", str(patch)], f"applying {patch.name}")
        (gopath / "src" / "vcsim").mkdir()
        shutil.copy(HERE / "main.go", gopath / "src" / "vcsim" / "main.go")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "GO111MODULE": "off",
               "GOPATH": str(gopath), "GOCACHE": str(Path(tmp) / "gocache"), "GOFLAGS": "",
               "CGO_ENABLED": "0", "GOPROXY": "off"}
        built = Path(tmp) / "vcsim"
        _run([str(GO), "build", "-o", str(built), "vcsim"], "go build", env=env)
        partial = target.with_suffix(".partial")
        shutil.copy(built, partial)
        partial.chmod(0o755)
        partial.rename(target)  # atomic: a reader sees no binary or the whole one


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise VcsimBuildError(f"vcsim build: {what} failed ({done.returncode}):\n"
                              f"{(done.stdout + done.stderr)[-3000:]}")


if __name__ == "__main__":
    print(vcsim_binary())
