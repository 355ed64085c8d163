"""Orphaned disks: deleted only once older than max_orphaned_age_in_days, through the real
local CPI (its disks are plain directories: no VM, no root needed beyond file access)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.cpi_client import CpiClient
from bosh_py.director.db import open_database
from bosh_py.director.models import Event, OrphanDisk, utcnow
from bosh_py.director.orphan_disks import delete_expired, delete_orphan, expired
from bosh_py.errors import BoshPyError
from tests.harness import BIN

NOW = datetime(2026, 11, 30, 12, 0)


def test_expired_is_older_than_the_retention():
    rows = [("fresh", NOW - timedelta(days=4, hours=23)), ("due", NOW - timedelta(days=5)),
            ("old", NOW - timedelta(days=40))]
    assert expired(rows, NOW, 5) == ["due", "old"]
    assert expired(rows, NOW, 0) == ["fresh", "due", "old"]
    assert expired([], NOW, 5) == []


@dataclass
class DirectorParts:
    """The parts of bosh_py.director.services.Director that orphan_disks uses."""

    sessions: sessionmaker[Session]
    config: object
    cpi_config: Path

    def cpi(self, debug=lambda _line: None, name: str = "default") -> CpiClient:  # type: ignore[no-untyped-def]
        assert name == "default", name  # orphans recorded with no cpi-config belong to the director's own CPI
        return CpiClient(str(BIN / "bosh-py-cpi-local"), str(self.cpi_config), "director-uuid", debug)


@dataclass
class Retention:
    max_orphaned_age_in_days: float = 5.0


@pytest.fixture
def parts(tmp_path) -> DirectorParts:
    cpi_config = tmp_path / "cpi.json"
    cpi_config.write_text(json.dumps({"root": str(tmp_path / "cpi"), "bridge": "boshpyunused", "prefix": "bz"}))
    return DirectorParts(open_database(f"sqlite:///{tmp_path / 'director.db'}"), Retention(), cpi_config)


def orphan_a_real_disk(parts: DirectorParts, age: timedelta) -> str:
    cid = asyncio.run(parts.cpi().call("create_disk", 64, {}, None))
    (parts.cpi_config.parent / "cpi" / "disks" / cid / "data" / "marker").write_text("keep me")
    with parts.sessions.begin() as session:
        session.add(OrphanDisk(cid=cid, size=64, deployment_name="cf", instance_name="db/x",
                               orphaned_at=utcnow() - age))
    return cid


def test_the_clean_up_deletes_only_expired_orphans(parts):
    old = orphan_a_real_disk(parts, timedelta(days=6))
    fresh = orphan_a_real_disk(parts, timedelta(days=1))
    assert asyncio.run(delete_expired(parts)) == [old]  # type: ignore[arg-type]
    disks = parts.cpi_config.parent / "cpi" / "disks"
    assert not (disks / old).exists()
    assert (disks / fresh / "data" / "marker").read_text() == "keep me"
    with parts.sessions() as session:
        assert list(session.scalars(select(OrphanDisk.cid))) == [fresh]
        assert [(e.action, e.object_name) for e in session.scalars(select(Event))] == [("delete", old)]


def test_deleting_a_disk_that_is_not_orphaned_is_refused(parts):
    with pytest.raises(BoshPyError, match="Orphaned disk 'disk-nope' not found"):
        asyncio.run(delete_orphan(parts, "disk-nope"))  # type: ignore[arg-type]


def test_a_forced_delete_deployment_forgets_no_disk(parts):
    """delete-deployment --force goes on when an instance's VM cannot be deleted; the disk rows
    that cascade with the deployment row are recorded as orphans first."""
    from bosh_py.director.models import Deployment, Instance, PersistentDisk
    from bosh_py.director.orphan_disks import orphan_remaining_disks

    with parts.sessions.begin() as session:
        deployment = Deployment(name="cf")
        session.add(deployment)
        session.flush()
        instance = Instance(deployment_id=deployment.id, group="db", index=0, uuid="u-1", az="z1")
        session.add(instance)
        session.flush()
        session.add(PersistentDisk(instance_id=instance.id, cid="disk-db", size=1024, active=True))
    with parts.sessions.begin() as session:
        deployment = session.scalars(select(Deployment)).one()
        orphan_remaining_disks(session, deployment)
        session.delete(deployment)
    with parts.sessions() as session:
        rows = [(d.cid, d.deployment_name, d.instance_name, d.az) for d in session.scalars(select(OrphanDisk))]
        assert rows == [("disk-db", "cf", "db/u-1", "z1")]
        assert list(session.scalars(select(PersistentDisk))) == []
