"""Leases: a role that one director process holds at a time, for as long as it renews it.

The health monitor must run once however many director processes share the database (two
would recreate the same VM twice). Each process tries to take the ``health-monitor`` lease
every ``ttl / 3`` seconds: the holder renews it, the others find it held; when the holder
dies its lease lapses after ``ttl`` and the next one to try takes over.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.models import Lease, utcnow

HEALTH_MONITOR = "health-monitor"


class LeaseManager:
    def __init__(self, sessions: sessionmaker[Session], holder: str, ttl: float) -> None:
        self.sessions = sessions
        self.holder = holder
        self.ttl = ttl

    def hold(self, name: str) -> bool:
        """Take or renew ``name``: True while this process holds it. The row is read FOR
        UPDATE and a racing insert is an IntegrityError, so two processes never both win."""
        try:
            with self.sessions.begin() as session:
                lease = session.get(Lease, name, with_for_update=True)
                now = utcnow()
                if lease is not None and lease.holder != self.holder and lease.expires_at > now:
                    return False
                expires = now + timedelta(seconds=self.ttl)
                if lease is None:
                    session.add(Lease(name=name, holder=self.holder, expires_at=expires))
                else:
                    lease.holder, lease.expires_at = self.holder, expires
                return True
        except IntegrityError:
            return False

    def holder_of(self, name: str) -> str | None:
        with self.sessions() as session:
            lease = session.get(Lease, name)
            return lease.holder if lease is not None and lease.expires_at > utcnow() else None

    def release(self, name: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == self.holder))
