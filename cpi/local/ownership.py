"""Make what a VM uses belong to the VMs' id range before it boots (see ``ids``).

A stemcell, a VM's upper layer and a disk's data each record the ``id_base`` they were
shifted to. Anything made before VMs had user namespaces records none (base 0: owned by
host root, which a VM's root could not even write) and is shifted once, on first use; so is
anything made under another ``id_base``. Callers hold the CPI lock.
"""

from __future__ import annotations

import json

from cpi.local import ids
from cpi.local.config import Config
from cpi.local.state import DiskState, VmState, write_json


def stemcell(config: Config, cid: str) -> None:
    directory = config.stemcells / cid
    manifest_path = directory / "stemcell.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    recorded = int(manifest.get("id_base", ids.UNSHIFTED))
    if recorded != config.id_base:
        ids.shift_tree(directory / "rootfs", recorded, config.ids)
        write_json(manifest_path, {**manifest, "id_base": config.id_base})


def vm(config: Config, state: VmState) -> None:
    if state.id_base != config.id_base:
        ids.shift_tree(state.dir(config) / "upper", state.id_base, config.ids)
        state.id_base = config.id_base
        state.save(config)


def disk(config: Config, found: DiskState) -> None:
    if found.id_base != config.id_base:
        ids.shift_tree(found.data(config), found.id_base, config.ids)
        found.id_base = config.id_base
        found.save(config)
