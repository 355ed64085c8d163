"""PostgreSQL specifics beyond the shared SQLite/PostgreSQL tests (locks, tasks, migrations):
the throwaway server itself, and a round trip through the models' awkward corners."""

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bosh_py.director.db import open_database
from bosh_py.director.models import Deployment, Event, Instance, PersistentDisk, Task
from tests.director.postgres import alive, find_bindir, running_postgres


def test_the_server_is_real_and_private(postgres):
    with postgres.connect() as connection:
        assert connection.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL ")
        assert connection.execute("SHOW listen_addresses").fetchone()[0] == ""  # Unix socket only
    assert postgres.url().startswith("postgresql+psycopg://")


def test_models_round_trip(postgres):
    """Keyword column names (group, index), JSON, naive UTC datetimes, constraints."""
    sessions = open_database(postgres.create_database())
    started = datetime(2024, 5, 1, 12, 30, 15, 123456)
    with sessions.begin() as session:
        deployment = Deployment(name="nats", manifest_text="name: nats\n")
        instance = Instance(group="nats", index=1, uuid="u-1", vm_metadata={"tags": ["a", "b"]},
                            applied_spec={"job": {"name": "nats", "templates": [{"name": "nats"}]}, "index": 1})
        instance.disks.append(PersistentDisk(cid="disk-1", size=1024))
        deployment.instances.append(instance)
        session.add_all([deployment, Task(description="deploy", started_at=started),
                         Event(action="create", object_type="deployment", object_name="nats",
                               context={"before": None, "after": {"instances": 1}})])
    with sessions() as session:
        instance = session.scalars(
            select(Instance).where(Instance.group == "nats", Instance.index == 1).order_by(Instance.index)
        ).one()
        assert instance.applied_spec["job"]["templates"] == [{"name": "nats"}]
        assert instance.vm_metadata == {"tags": ["a", "b"]} and instance.bootstrap is False
        assert [disk.cid for disk in instance.disks] == ["disk-1"] and instance.disks[0].active is True
        task = session.scalars(select(Task)).one()
        assert task.started_at == started and task.started_at.tzinfo is None
        assert session.scalars(select(Event)).one().context == {"before": None, "after": {"instances": 1}}
    with pytest.raises(IntegrityError):  # the (deployment, group, index) unique constraint holds
        with sessions.begin() as session:
            session.add(Instance(deployment_id=instance.deployment_id, group="nats", index=1, uuid="u-2"))


@pytest.mark.skipif(find_bindir() is None, reason="no PostgreSQL server binaries")
def test_the_server_is_stopped_and_removed_even_on_failure():
    with pytest.raises(RuntimeError, match="boom"):
        with running_postgres() as server:
            pid = server.postmaster_pid()
            assert pid is not None and alive(pid)
            raise RuntimeError("boom")
    assert not alive(pid)  # pg_ctl daemonizes it, so it may linger as a zombie of PID 1
    assert not server.base.exists()
