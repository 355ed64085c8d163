"""What the CPI remembers between calls: one JSON file per VM, stemcell and disk.

The CPI is one process per call, so everything a later call (or ``cleanup``) needs to find
and undo is written here first, before the thing it describes is made.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cpi.local.config import Config

STATE_FILE = "state.json"


def new_id(kind: str) -> str:
    """A cid such as ``vm-1a2b3c4d5e``: short enough for a hostname and a veth name.
    (os.urandom, as secrets.token_hex does, without importing hashlib into every keeper.)"""
    return f"{kind}-{os.urandom(5).hex()}"


def private_dir(config: Config, path: Path) -> Path:
    """mkdir -p ``path`` (the CPI root or a directory in it) and make it and the root 0700:
    the CPI's files are host root's alone."""
    for directory in (config.root, path):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    return path


def write_json(path: Path, data: Any) -> None:
    """Write atomically (mode 0600), so a reader never sees half a file."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
    os.replace(temp, path)


@dataclass
class VmState:
    """A VM's identity and every host object made for it (the names cleanup will look for)."""

    cid: str
    agent_id: str
    stemcell_cid: str
    lower: str                       # the stemcell rootfs the overlay reads from
    ip: str
    prefixlen: int
    gateway: str
    mac: str
    netns: str
    veth: str
    networks: dict[str, Any]
    cloud_properties: dict[str, Any] = field(default_factory=dict)
    cgroups: list[str] = field(default_factory=list)
    delegated_cgroups: dict[str, str] = field(default_factory=dict)  # controller -> host group
    disks: list[str] = field(default_factory=list)
    host_public_key: str = ""
    created_at: float = 0.0
    id_base: int = 0                 # host uid of the VM's root its files belong to (0: made before user namespaces)

    @staticmethod
    def directory(config: Config, cid: str) -> Path:
        return config.vms / cid

    def dir(self, config: Config) -> Path:
        return self.directory(config, self.cid)

    def save(self, config: Config) -> None:
        write_json(self.dir(config) / STATE_FILE, asdict(self))

    @classmethod
    def load(cls, vm_dir: Path) -> "VmState":
        return cls(**json.loads((vm_dir / STATE_FILE).read_text()))

    @classmethod
    def find(cls, config: Config, cid: str) -> "VmState | None":
        if not _safe_cid(cid):
            return None
        path = cls.directory(config, cid)
        return cls.load(path) if (path / STATE_FILE).exists() else None


def all_vms(config: Config) -> list[VmState]:
    if not config.vms.is_dir():
        return []
    return [VmState.load(path) for path in sorted(config.vms.iterdir())
            if (path / STATE_FILE).exists()]


@dataclass
class DiskState:
    """A persistent disk: a directory whose size is recorded (not enforced)."""

    cid: str
    size_mb: int
    cloud_properties: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    id_base: int = 0                 # host uid of VM root its data belongs to (0: made before user namespaces)

    @staticmethod
    def directory(config: Config, cid: str) -> Path:
        return config.disks / cid

    def data(self, config: Config) -> Path:
        return self.directory(config, self.cid) / "data"

    def save(self, config: Config) -> None:
        write_json(self.directory(config, self.cid) / STATE_FILE, asdict(self))

    @classmethod
    def find(cls, config: Config, cid: str) -> "DiskState | None":
        if not _safe_cid(cid):
            return None
        path = cls.directory(config, cid) / STATE_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None


def stemcell_rootfs(config: Config, cid: str) -> Path | None:
    """The extracted root filesystem of stemcell ``cid``, if it was created."""
    if not _safe_cid(cid):
        return None
    path = config.stemcells / cid / "rootfs"
    return path if path.is_dir() else None


def _safe_cid(cid: object) -> bool:
    """Cids become path components: refuse anything that could walk out of root."""
    return isinstance(cid, str) and bool(cid) and "/" not in cid and not cid.startswith(".")
