"""scripts/prepare-uaa-blobs: which .debs the python3-cryptography package ships follows the
Debian dependencies the stemcell lacks (apt's metadata, no download when up to date)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .uaa_support import BLOBS, REPO

SCRIPT = REPO / "scripts" / "prepare-uaa-blobs"


def fake_rootfs(root: Path, packages: list[str]) -> Path:
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("".join(f"Package: {p}\nStatus: install ok installed\n\n" for p in packages))
    return root


def run(dest: Path, rootfs: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "UAA_BLOBS_DIR": str(dest), "STEMCELL_ROOTFS": str(rootfs)})


def test_ships_what_the_stemcell_lacks_and_drops_the_rest(tmp_path):
    if not BLOBS.joinpath("python3-cryptography.deb").exists():
        subprocess.run([str(SCRIPT)], check=True, capture_output=True)
    dest = tmp_path / "blobs"
    shutil.copytree(BLOBS, dest)
    (dest / "stale-package.deb").write_bytes(b"left from an older dependency list")
    rootfs = fake_rootfs(tmp_path / "rootfs", ["python3", "libc6", "libgcc-s1", "libssl3", "libffi8"])
    result = run(dest, rootfs)
    assert result.returncode == 0, result.stderr
    assert "ships: python3-cryptography, python3-cffi-backend" in result.stdout
    assert "downloaded" not in result.stdout  # up to date: apt's candidate versions are there
    assert sorted(p.name for p in dest.iterdir()) == ["python3-cffi-backend.deb", "python3-cryptography.deb"]


def test_a_stemcell_without_python3_is_refused(tmp_path):
    result = run(tmp_path / "blobs", fake_rootfs(tmp_path / "rootfs", ["libc6"]))
    assert result.returncode == 1
    assert f"prepare-uaa-blobs: the stemcell at {tmp_path / 'rootfs'} has no python3" in result.stderr
