"""Build the local stemcell: a Debian bookworm root filesystem packed the way BOSH packs one.

The local CPI boots every VM from this tree through an overlay, so the tree must be a real
OS image (sshd, python3 for the agent) and nothing else. Building it takes about a minute
and needs Debian's mirror, so the finished tree is cached under ``cache_dir`` and a second
build only re-packs it. Every step writes into a temporary sibling and renames at the end,
so an interrupted build leaves either nothing or a complete result, never half a tree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from bosh_py.errors import BoshPyError

STEMCELL_NAME = "bosh-py-local-debian-bookworm"
STEMCELL_VERSION = "1.1"
OPERATING_SYSTEM = "debian-bookworm"
SUITE = "bookworm"
# nftables: the DEA maps app ports into its containers and fences their egress with nft.
PACKAGES = ("openssh-server", "python3", "procps", "iproute2", "ca-certificates", "nftables")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the recipe changes, so a cached tree from an older recipe is not reused.
RECIPE = "2"


class StemcellBuildError(BoshPyError):
    """The stemcell could not be built; the message says which step failed."""


@dataclass(frozen=True)
class StemcellManifest:
    """What ``stemcell.MF`` says; the director reads it on upload."""

    name: str = STEMCELL_NAME
    version: str = STEMCELL_VERSION
    operating_system: str = OPERATING_SYSTEM
    sha1: str = ""

    def to_yaml(self) -> str:
        return yaml.safe_dump({
            "name": self.name,
            "version": self.version,
            "operating_system": self.operating_system,
            "stemcell_formats": ["local-rootfs"],
            "api_version": 2,
            "sha1": self.sha1,
            "cloud_properties": {},
        }, sort_keys=False)


def build_local_stemcell(cache_dir: Path, output: Path, mirror: str | None = None,
                         log=print) -> Path:
    """Build (or re-pack from cache) the local stemcell tarball at ``output``; return it.

    ``output`` is an uncompressed tar holding ``stemcell.MF`` and ``image`` (itself an
    uncompressed tar of the root filesystem, extracted by the local CPI's create_stemcell).
    Compression would cost more time than the copy it saves on a local disk.
    """
    if os.geteuid() != 0:
        raise StemcellBuildError("building the local stemcell needs root (debootstrap, chroot)")
    cache_dir = Path(cache_dir)
    output = Path(output)
    cache_dir.mkdir(parents=True, exist_ok=True)
    rootfs = cached_rootfs(cache_dir, mirror or apt_mirror(), log)
    stamp = _stamp(rootfs)
    stamp_file = output.with_name(output.name + ".stamp")
    if output.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        log(f"stemcell {output} is up to date")
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    _pack(rootfs, output, log)
    stamp_file.write_text(stamp)
    return output


def cached_rootfs(cache_dir: Path, mirror: str, log=print) -> Path:
    """The finished root filesystem, built once: ``cache_dir/rootfs-<recipe>``."""
    rootfs = cache_dir / f"rootfs-{SUITE}-{RECIPE}"
    if (rootfs / ".bosh-py-stemcell").exists():
        return rootfs
    _ensure_debootstrap()
    building = Path(tempfile.mkdtemp(prefix=".rootfs-building-", dir=cache_dir))
    building.chmod(0o755)  # mkdtemp's 0700 would become the VMs' "/"
    try:
        log(f"debootstrap --variant=minbase {SUITE} from {mirror}")
        _run(["debootstrap", "--variant=minbase", SUITE, str(building), mirror], "debootstrap")
        _install_packages(building, log)
        (building / ".bosh-py-stemcell").write_text(f"{STEMCELL_NAME} {STEMCELL_VERSION} recipe {RECIPE}\n")
        if (rootfs / ".bosh-py-stemcell").exists():  # a parallel build finished first: keep
            return rootfs                             # its tree (it may be packing it now)
        if rootfs.exists():  # an unfinished tree from an older, interrupted layout
            shutil.rmtree(rootfs)
        building.rename(rootfs)
    finally:
        if building.exists():
            _unmount_under(building)
            shutil.rmtree(building, ignore_errors=True)
    return rootfs


def apt_mirror(one_line: Path = Path("/etc/apt/sources.list"),
               sources_dir: Path = Path("/etc/apt/sources.list.d")) -> str:
    """The host's Debian mirror, read from apt's own sources (one-line or deb822 format)."""
    if one_line.exists():
        for line in one_line.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb":
                uri = next((w for w in words[1:] if not w.startswith("[")), "")
                if uri.startswith("http") and "security" not in uri:
                    return uri.rstrip("/")
    for sources in sorted(sources_dir.glob("*.sources")):
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.startswith("http") and "security" not in uri and "debian" in uri:
                        return uri.rstrip("/")
    return DEFAULT_MIRROR


def _install_packages(rootfs: Path, log) -> None:
    """apt-get install the stemcell's packages in a chroot that may not start any service."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# bosh-py stemcell build: never start services\nexit 101\n")
    policy.chmod(0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LANG": "C.UTF-8", "HOME": "/root"}
    with _chroot_mounts(rootfs):
        log(f"apt-get install {' '.join(PACKAGES)}")
        _run(["chroot", str(rootfs), "apt-get", "update"], "apt-get update", env)
        _run(["chroot", str(rootfs), "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
             "apt-get install", env)
        _run(["chroot", str(rootfs), "apt-get", "clean"], "apt-get clean", env)
        listing = subprocess.run(["chroot", str(rootfs), "dpkg-query", "-W"], env=env,
                                 capture_output=True, text=True, check=False).stdout
    (rootfs / "var/lib/bosh-py-stemcell-packages.txt").write_text(listing)
    policy.unlink()
    # Each VM gets its host key from the director; none may share the build's keys.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for leftover in (rootfs / "var/lib/apt/lists").iterdir():
        if leftover.is_file():
            leftover.unlink()
    for cache in (rootfs / "var/cache/apt").glob("*.bin"):
        cache.unlink()
    # The build host's resolver and name are not the VM's.
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").write_text("localhost\n")


@contextmanager
def _chroot_mounts(rootfs: Path) -> Iterator[None]:
    """/proc and /dev for the chroot's package scripts, unmounted whatever happens."""
    mounts = [("proc", rootfs / "proc", ["-t", "proc", "proc"]),
              ("dev", rootfs / "dev", ["--bind", "/dev"])]
    done: list[Path] = []
    try:
        for _name, target, how in mounts:
            target.mkdir(exist_ok=True)
            _run(["mount", *how, str(target)], f"mount {target}")
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], check=False)


def _unmount_under(path: Path) -> None:
    """Lazily unmount anything an interrupted build left mounted below ``path``."""
    prefix = str(path.resolve()) + "/"
    targets = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(prefix):
            targets.append(target)
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)


def _pack(rootfs: Path, output: Path, log) -> None:
    """Write ``stemcell.MF`` + ``image`` into a temp tar beside ``output``, then rename."""
    log(f"packing {rootfs} into {output}")
    work = Path(tempfile.mkdtemp(prefix=".stemcell-", dir=output.parent))
    try:
        image = work / "image"
        _run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(rootfs),
              "--exclude=./.bosh-py-stemcell", "-cf", str(image), "."], "tar image")
        manifest = StemcellManifest(sha1=f"sha256:{_sha256(image)}")
        (work / "stemcell.MF").write_text(manifest.to_yaml())
        partial = work / "stemcell.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(work / "stemcell.MF", arcname="stemcell.MF")
            tar.add(image, arcname="image")
        os.replace(partial, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_manifest(stemcell: Path) -> dict:
    """The parsed ``stemcell.MF`` of a stemcell tarball (compressed or not)."""
    with tarfile.open(stemcell, "r:*") as tar:
        member = tar.extractfile("stemcell.MF")
        if member is None:
            raise StemcellBuildError(f"{stemcell}: no stemcell.MF")
        return yaml.safe_load(member.read())


def _stamp(rootfs: Path) -> str:
    marker = rootfs / ".bosh-py-stemcell"
    return f"{rootfs} {marker.stat().st_mtime_ns} {marker.read_text().strip()}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap") is None:
        raise StemcellBuildError("debootstrap is not installed (apt-get install -y debootstrap)")


def _run(argv: list[str], step: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-3000:]
        raise StemcellBuildError(f"stemcell build step '{step}' failed (exit {result.returncode}):\n{tail}")
