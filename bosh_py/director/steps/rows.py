"""Reading and writing one instance's row: every step records its result as soon as it is
true, so a failure in the middle leaves a record the next deploy can fix."""

from __future__ import annotations

from bosh_py.director.models import Instance, PersistentDisk
from bosh_py.director.services import Director


def load(director: Director, instance_id: int) -> Instance:
    with director.sessions() as session:
        row = session.get(Instance, instance_id)
        assert row is not None
        session.expunge(row)
        return row


def save(director: Director, instance_id: int, **values: object) -> None:
    with director.sessions.begin() as session:
        row = session.get(Instance, instance_id)
        for key, value in values.items():
            setattr(row, key, value)


def active_disk(director: Director, instance_id: int) -> PersistentDisk | None:
    with director.sessions() as session:
        row = session.get(Instance, instance_id)
        disk = next((d for d in row.disks if d.active), None) if row else None
        if disk is not None:
            session.expunge(disk)
        return disk
