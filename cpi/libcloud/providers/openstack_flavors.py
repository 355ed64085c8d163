"""Nova flavors as plain data, and the choice calculate_vm_cloud_properties makes among them.

A BOSH ``vm_resources`` block asks for cpu, ram and an ephemeral disk; as BOSH's OpenStack CPI
does, the answer is the smallest flavor that holds all three. The ephemeral disk lives on the
flavor's own ephemeral disk when it has one, else on its root disk beside the stemcell's root
filesystem (``ROOT_FILESYSTEM_GIB``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ROOT_FILESYSTEM_GIB = 3  # what the stemcell's own root filesystem takes on a root disk


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    root_gib: int
    ephemeral_gib: int
    disabled: bool = False

    def holds_ephemeral(self, ephemeral_gib: int) -> bool:
        if self.ephemeral_gib > 0:
            return self.ephemeral_gib >= ephemeral_gib
        return self.root_gib >= ephemeral_gib + ROOT_FILESYSTEM_GIB


def flavors_from(listing: list[dict[str, Any]]) -> list[Flavor]:
    """Nova's ``GET /flavors/detail`` entries."""
    return [Flavor(str(f["id"]), str(f.get("name") or f["id"]), int(f.get("vcpus") or 0), int(f.get("ram") or 0),
                   int(f.get("disk") or 0), int(f.get("OS-FLV-EXT-DATA:ephemeral") or 0),
                   bool(f.get("OS-FLV-DISABLED:disabled", False)))
            for f in listing]


def flavor_id(flavors: list[Flavor], wanted: str) -> str | None:
    """The id of the flavor named (or with id) ``wanted``; operators name flavors, Nova wants ids."""
    return next((f.id for f in flavors if wanted in (f.name, f.id)), None)


def smallest_fitting(flavors: list[Flavor], cpu: int, ram_mb: int, ephemeral_mb: int) -> Flavor | None:
    """The enabled flavor with at least ``cpu`` vCPUs, ``ram_mb`` MiB and room for the ephemeral
    disk, smallest first by memory, then vCPUs, then disk, then name (so ties are deterministic)."""
    ephemeral_gib = math.ceil(ephemeral_mb / 1024)
    fitting = [f for f in flavors if not f.disabled and f.vcpus >= cpu and f.ram_mb >= ram_mb
               and f.holds_ephemeral(ephemeral_gib)]
    return min(fitting, key=lambda f: (f.ram_mb, f.vcpus, f.root_gib + f.ephemeral_gib, f.name), default=None)
