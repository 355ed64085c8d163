"""`update-cpi-config`, `cpi-config` and `cpis` on the director's side.

A cpi-config is checked whole before anything is stored (a bad one changes nothing), and
it may not drop a CPI that still holds VMs or disks the director knows of: those could then
be deleted by no CPI. What leaves the director is the redacted form only; the properties go
to each CPI's 0600 config file (cpi_registry.write_properties).
"""

from __future__ import annotations

import asyncio

import yaml
from sqlalchemy import func, select

from bosh_py.director.cpi_registry import (
    CpiTarget,
    cpi_config_in_force,
    default_target,
    resources_by_cpi,
    stemcell_formats_of,
    targets_in_force,
    write_properties,
)
from bosh_py.director.models import DEFAULT_CPI, CpiConfig, Event, Stemcell
from bosh_py.director.services import Director
from bosh_py.errors import BoshPyError
from bosh_py.manifest import ManifestError, load_yaml
from bosh_py.manifest.cpi_config import (
    CpiConfigDoc,
    check_no_placeholders,
    parse_cpi_config,
    redact_cpi_config,
)

HELD_LABELS = {"vms": "VM(s)", "disks": "persistent disk(s)", "orphaned_disks": "orphaned disk(s)"}
INFO_TIMEOUT = 20.0  # seconds one CPI's `info` may take for `bosh-py cpis`


def _check_nothing_stranded(director: Director, new: CpiConfigDoc) -> None:
    """A CPI may leave the cpi-config only once it holds nothing the director recorded."""
    with director.sessions() as session:
        old = cpi_config_in_force(session)
        counts = resources_by_cpi(session)
    kept = set(new.names()) if new.cpis else {DEFAULT_CPI}
    before = set(old.names()) if old else {DEFAULT_CPI}
    problems = []
    for name in sorted(before - kept - {DEFAULT_CPI}):
        held = counts.get(name)
        if held and any(held.values()):
            what = ", ".join(f"{count} {HELD_LABELS[kind]}" for kind, count in held.items() if count)
            problems.append(ManifestError(f"CPI '{name}' still holds {what}: delete them (or move their "
                                          f"deployments) before removing it", path="cpis", source="cpi-config"))
    if problems:
        raise ManifestError.collect(problems)


def update_cpi_config(director: Director, text: str) -> dict:
    """Validate, store as the newest version, write each CPI's config file."""
    raw = load_yaml(text, "cpi-config")
    doc = parse_cpi_config(raw)
    check_no_placeholders(raw)
    _check_nothing_stranded(director, doc)
    with director.sessions.begin() as session:
        latest = session.scalars(select(CpiConfig).order_by(CpiConfig.id.desc())).first()
        if latest is not None and latest.content == text:
            write_properties(director.config, doc)
            return {"id": latest.id, "changed": False}
        row = CpiConfig(content=text)
        session.add(row)
        session.flush()
        write_properties(director.config, doc)
        session.add(Event(action="update", object_type="cpi-config", object_name="default",
                          context={"cpis": doc.names()}))
        return {"id": row.id, "changed": True}


def redacted_cpi_config(director: Director) -> dict | None:
    """The newest cpi-config with every credential-looking property redacted."""
    with director.sessions() as session:
        row = session.scalars(select(CpiConfig).order_by(CpiConfig.id.desc())).first()
    if row is None:
        return None
    shown = redact_cpi_config(load_yaml(row.content, "cpi-config"))
    return {"id": row.id, "type": "cpi", "name": "default",
            "content": yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)}


async def _formats(director: Director, target: CpiTarget) -> tuple[list[str], str | None]:
    try:
        info = await asyncio.wait_for(director.cpi(name=target.name).call("info"), INFO_TIMEOUT)
    except (TimeoutError, BoshPyError) as error:
        return [], str(error) or "timed out"
    return stemcell_formats_of(info), None


async def list_cpis(director: Director) -> list[dict]:
    """The CPIs in force (and the director's own while it still holds VMs or disks): type,
    stemcell formats from each CPI's `info`, and what each holds."""
    targets = targets_in_force(director.config, director.sessions)
    with director.sessions() as session:
        counts = resources_by_cpi(session)
        stemcells = dict(session.execute(select(Stemcell.cpi, func.count()).group_by(Stemcell.cpi)).all())
    if DEFAULT_CPI not in {t.name for t in targets} and any((counts.get(DEFAULT_CPI) or {}).values()):
        targets.append(default_target(director.config))
    infos = await asyncio.gather(*(_formats(director, target) for target in targets))
    rows = []
    for target, (formats, error) in zip(targets, infos):
        held = counts.get(target.name) or {}
        rows.append({"name": target.name, "type": target.type, "stemcell_formats": formats,
                     "vms": held.get("vms", 0), "disks": held.get("disks", 0),
                     "orphaned_disks": held.get("orphaned_disks", 0), "stemcells": stemcells.get(target.name, 0),
                     "error": error})
    return rows
