"""Which CPI executable and config a CPI name stands for.

With no cpi-config the director's own ``cpi`` (its config) is the only CPI, named
``default``; rows made before a cpi-config carry that name and keep reaching it. With a
cpi-config, each CPI named there runs as its executable with its properties written as a
0600 JSON file under the data dir (``cpis/<name>.json``), never logged. A name the
cpi-config in force no longer has is an error, never a silent fall back to another CPI:
a VM must be deleted by the CPI that made it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.config import DirectorConfig
from bosh_py.director.models import (
    DEFAULT_CPI,
    CpiConfig,
    Instance,
    OrphanDisk,
    PersistentDisk,
)
from bosh_py.director.private_files import private_dir, write_private_text
from bosh_py.errors import BoshPyError
from bosh_py.manifest import load_yaml
from bosh_py.manifest.cpi_config import (
    EXECUTABLE_BY_TYPE,
    CpiConfigDoc,
    CpiEntry,
    parse_cpi_config,
)


class UnknownCpi(BoshPyError):
    pass


@dataclass(frozen=True)
class CpiTarget:
    name: str
    type: str
    executable: str
    config_path: str | None


def executable_of(entry: CpiEntry) -> str:
    """``exec_path`` if given, else the type's executable beside this Python (the venv's bin/)."""
    return entry.exec_path or str(Path(sys.executable).parent / EXECUTABLE_BY_TYPE[entry.type])


def properties_dir(config: DirectorConfig) -> Path:
    return config.data_dir / "cpis"


def properties_path(config: DirectorConfig, name: str) -> Path:
    return properties_dir(config) / f"{name}.json"


def default_target(config: DirectorConfig) -> CpiTarget:
    executable = config.cpi.executable
    return CpiTarget(DEFAULT_CPI, Path(executable).name, executable, config.cpi.config_path)


def cpi_config_in_force(session: Session) -> CpiConfigDoc | None:
    """The newest cpi-config, or None when there is none or it names no CPI."""
    row = session.scalars(select(CpiConfig).order_by(CpiConfig.id.desc())).first()
    if row is None:
        return None
    doc = parse_cpi_config(load_yaml(row.content, "cpi-config"))
    return doc if doc.cpis else None


def _doc_in_force(sessions: sessionmaker[Session]) -> CpiConfigDoc | None:
    with sessions() as session:
        return cpi_config_in_force(session)


def stemcell_formats_of(info: object) -> list[str]:
    """The ``stemcell_formats`` of a CPI's ``info`` answer (none when it names none)."""
    formats = info.get("stemcell_formats") if isinstance(info, dict) else None
    return [str(f) for f in formats] if isinstance(formats, list) else []


def cpi_names_in_force(sessions: sessionmaker[Session]) -> list[str]:
    """The names AZs may give; empty when no cpi-config is in force."""
    doc = _doc_in_force(sessions)
    return doc.names() if doc else []


def target_of(config: DirectorConfig, entry: CpiEntry) -> CpiTarget:
    return CpiTarget(entry.name, entry.type, executable_of(entry), str(properties_path(config, entry.name)))


def resolve(config: DirectorConfig, sessions: sessionmaker[Session], name: str) -> CpiTarget:
    if name == DEFAULT_CPI:
        return default_target(config)
    doc = _doc_in_force(sessions)
    entry = doc.get(name) if doc else None
    if entry is None:
        raise UnknownCpi(f"CPI '{name}' is not in the cpi-config in force "
                         f"(`bosh-py cpis` lists them; `bosh-py update-cpi-config` restores it)")
    return target_of(config, entry)


def targets_in_force(config: DirectorConfig, sessions: sessionmaker[Session]) -> list[CpiTarget]:
    """The CPIs new VMs and stemcells go to: the cpi-config's, else the director's own."""
    doc = _doc_in_force(sessions)
    if doc is None:
        return [default_target(config)]
    return [target_of(config, entry) for entry in doc.cpis]


def write_properties(config: DirectorConfig, doc: CpiConfigDoc) -> None:
    """Each CPI's properties as its config file (0600 in a 0700 dir); files of CPIs the
    cpi-config no longer names are removed (their credentials are no longer needed)."""
    directory = private_dir(properties_dir(config))
    wanted = {f"{entry.name}.json" for entry in doc.cpis}
    for entry in doc.cpis:
        write_private_text(directory / f"{entry.name}.json", json.dumps(entry.properties, indent=1))
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink(missing_ok=True)


def sync_properties(config: DirectorConfig, sessions: sessionmaker[Session]) -> None:
    """At director start: the files match the cpi-config in force (a restored data dir)."""
    doc = _doc_in_force(sessions)
    write_properties(config, doc or CpiConfigDoc())


def resources_by_cpi(session: Session) -> dict[str, dict[str, int]]:
    """How many VMs and disks each CPI holds, from the director's records."""
    counts: dict[str, dict[str, int]] = {}
    queries = {
        "vms": select(Instance.cpi, func.count()).where(Instance.vm_cid.is_not(None)).group_by(Instance.cpi),
        "disks": select(PersistentDisk.cpi, func.count()).group_by(PersistentDisk.cpi),
        "orphaned_disks": select(OrphanDisk.cpi, func.count()).group_by(OrphanDisk.cpi),
    }
    for kind, query in queries.items():
        for name, count in session.execute(query):
            counts.setdefault(name, {"vms": 0, "disks": 0, "orphaned_disks": 0})[kind] = count
    return counts
