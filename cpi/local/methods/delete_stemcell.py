"""delete_stemcell(cid): remove an unpacked stemcell no VM boots from any more."""

from __future__ import annotations

import shutil

from cpi.local.context import Context
from cpi.local.errors import CloudError
from cpi.local.locking import locked
from cpi.local.state import all_vms, stemcell_rootfs


def run(ctx: Context, stemcell_cid: str) -> None:
    with locked(ctx.config.root):
        rootfs = stemcell_rootfs(ctx.config, stemcell_cid)
        if rootfs is None:
            ctx.log(f"stemcell {stemcell_cid} not found; nothing to delete")
            return None
        users = [vm.cid for vm in all_vms(ctx.config) if vm.stemcell_cid == stemcell_cid]
        if users:
            raise CloudError(f"stemcell {stemcell_cid} is in use by VMs {', '.join(users)}")
        shutil.rmtree(rootfs.parent)
    return None
