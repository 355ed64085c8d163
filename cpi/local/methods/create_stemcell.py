"""create_stemcell(image_path, cloud_properties): unpack the rootfs tar the VMs boot from.

Unpacked into a temp directory and renamed, so a stemcell cid exists only when complete.
Its files are then owned by the VMs' id range (``ids``): the VM's root owns the image as
root owns it on a cloud VM, and is an unprivileged uid on the host. Device nodes of the
image are dropped (a VM's /dev is its own). The stemcell directory is 0700.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cpi.local import ids
from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.state import new_id, private_dir, write_json


def run(ctx: Context, image_path: str, cloud_properties: dict | None = None) -> str:
    image = Path(image_path)
    if not image.is_file():
        raise CloudError(f"stemcell image {image_path} does not exist")
    stemcells = private_dir(ctx.config, ctx.config.stemcells)
    cid = new_id("sc")
    work = Path(tempfile.mkdtemp(prefix=f".{cid}-", dir=stemcells))
    try:
        rootfs = work / "rootfs"
        rootfs.mkdir(mode=0o755)
        started = time.monotonic()
        result = subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                                 "-xf", str(image), "-C", str(rootfs)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CloudError(f"cannot unpack stemcell image {image_path}: {result.stderr.strip()[-2000:]}")
        if not (rootfs / "usr/bin/python3").exists() or not (rootfs / "usr/sbin/sshd").exists():
            raise CloudError(f"stemcell image {image_path} lacks /usr/bin/python3 or /usr/sbin/sshd")
        rootfs.chmod(0o755)
        ids.shift_tree(rootfs, ids.UNSHIFTED, ctx.config.ids)
        write_json(work / "stemcell.json", {"cid": cid, "image": str(image),
                                            "cloud_properties": cloud_properties or {},
                                            "created_at": time.time(), "id_base": ctx.config.id_base})
        work.rename(stemcells / cid)
        ctx.log(f"stemcell {cid} unpacked in {time.monotonic() - started:.1f}s")
        return cid
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
