"""Fetched logs blobs are deleted after a retention even if no CLI ever downloads them
(the CLI died, the director restarted before its timer), and only logs blobs are."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from bosh_py.director.blobstore import LocalBlobstore
from bosh_py.director.db import open_database
from bosh_py.director.jobs import deployment_actions
from bosh_py.director.models import Task, utcnow


def test_expired_logs_blobs_are_deleted_and_nothing_else(tmp_path, db_url):
    director = SimpleNamespace(sessions=open_database(db_url), blobstore=LocalBlobstore(tmp_path / "blobs"))
    old_logs, new_logs, release = (director.blobstore.put_bytes(b"x")[0] for _ in range(3))
    long_ago = utcnow() - timedelta(seconds=deployment_actions.LOGS_RETENTION + 60)
    with director.sessions.begin() as session:
        session.add(Task(description=deployment_actions.FETCH_LOGS, state="done", result=old_logs, ended_at=long_ago))
        session.add(Task(description=deployment_actions.FETCH_LOGS, state="done", result=new_logs, ended_at=utcnow()))
        session.add(Task(description="create release", state="done", result=release, ended_at=long_ago))

    deployment_actions.delete_expired_logs_blobs(director)  # type: ignore[arg-type]

    assert not director.blobstore.exists(old_logs)
    assert director.blobstore.exists(new_logs) and director.blobstore.exists(release)
    assert deployment_actions.is_logs_blob(director, new_logs)  # type: ignore[arg-type]
    assert not deployment_actions.is_logs_blob(director, release)  # type: ignore[arg-type]
