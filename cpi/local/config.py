"""The local CPI's configuration: where it keeps state and which names it may use.

Every name the CPI gives to a host object (netns, veth, cgroup) starts with ``prefix`` and
every file lives under ``root``, so two CPIs (the operator's and a test run's) can share a
machine and each one's ``cleanup`` touches only its own leftovers.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from cpi.local.errors import InvalidCall
from cpi.local.ids import COUNT, IdRange

CONFIG_ENV = "BOSH_PY_CPI_CONFIG"


@dataclass(frozen=True)
class Config:
    root: Path = Path("/var/lib/bosh-py/cpi-local")
    bridge: str = "boshpy0"
    prefix: str = "bp"              # 1-4 chars: veth names are limited to 15
    boot_timeout: float = 30.0      # seconds create_vm waits for sshd
    cgroup_root: Path = Path("/sys/fs/cgroup")
    id_base: int = 1_000_000        # host uid/gid of VM root; VM ids 0..65535 map above it

    @property
    def ids(self) -> IdRange:
        return IdRange(self.id_base)

    @property
    def stemcells(self) -> Path:
        return self.root / "stemcells"

    @property
    def vms(self) -> Path:
        return self.root / "vms"

    @property
    def disks(self) -> Path:
        return self.root / "disks"


def load_config(path: str | None) -> Config:
    """Read the JSON config at ``path`` (or $BOSH_PY_CPI_CONFIG); defaults for what is absent."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        return Config()
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InvalidCall(f"cannot read CPI config {path}: {error}") from error
    known = {f.name for f in fields(Config)}
    values = {key: value for key, value in raw.items() if key in known}
    for key in ("root", "cgroup_root"):
        if key in values:
            values[key] = Path(values[key])
    config = Config(**values)
    if not re.fullmatch(r"[a-z][a-z0-9]{0,3}", config.prefix):
        raise InvalidCall(f"CPI config prefix {config.prefix!r}: 1-4 lowercase letters/digits")
    if isinstance(config.id_base, bool) or not isinstance(config.id_base, int) \
            or not COUNT <= config.id_base <= 2**32 - 2 * COUNT:
        raise InvalidCall(f"CPI config id_base {config.id_base!r}: an integer from {COUNT} "
                          f"(above the host's own users) to {2**32 - 2 * COUNT}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", config.bridge):
        raise InvalidCall(f"CPI config bridge {config.bridge!r}: not a valid interface name")
    return config
