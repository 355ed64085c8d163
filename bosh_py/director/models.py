"""The director's state, as SQLAlchemy tables.

Rows hold plain JSON for specs so the schema stays small; anything the director must query
by (names, versions, fingerprints, cids) is a real column. Alembic migrations in
``migrations/`` create and evolve these tables.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


# The director's own CPI (its config's ``cpi``): what made every VM, disk and stemcell copy
# when no cpi-config names others, and what made the rows older than the cpi-config.
DEFAULT_CPI = "default"


def _cpi_column() -> Mapped[str]:
    return mapped_column(String(255), default=DEFAULT_CPI, server_default=DEFAULT_CPI)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class CloudConfig(Base):
    __tablename__ = "cloud_configs"
    id: Mapped[int] = mapped_column(primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CpiConfig(Base):
    """A version of the cpi-config (BOSH's ``cpis:``), kept like cloud-configs: the newest
    is the one in force. Its properties hold IaaS credentials: never sent out in clear."""

    __tablename__ = "cpi_configs"
    id: Mapped[int] = mapped_column(primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuntimeConfig(Base):
    """A version of a named runtime-config (BOSH's ``update-runtime-config --name``): the
    newest of each name is in force, and every deploy adds their addons."""

    __tablename__ = "runtime_configs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Release(Base):
    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    versions: Mapped[list["ReleaseVersion"]] = relationship(
        back_populates="release", cascade="all, delete-orphan"
    )


class ReleaseVersion(Base):
    __tablename__ = "release_versions"
    __table_args__ = (UniqueConstraint("release_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    version: Mapped[str] = mapped_column(String(255))
    manifest: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    release: Mapped[Release] = relationship(back_populates="versions")


class Package(Base):
    """A source package, stored once per fingerprint whatever release versions share it."""

    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("release_name", "name", "fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    release_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(128))
    dependencies: Mapped[list] = mapped_column(JSON, default=list)
    blobstore_id: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(128))


class Template(Base):
    """A job ("template" in BOSH's tables), stored once per fingerprint."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("release_name", "name", "fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    release_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(128))
    blobstore_id: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(128))


class CompiledPackage(Base):
    """A package compiled for one stemcell; the cache key includes the dependencies'."""

    __tablename__ = "compiled_packages"
    __table_args__ = (UniqueConstraint("package_fingerprint", "stemcell_os", "stemcell_version", "dependency_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    package_fingerprint: Mapped[str] = mapped_column(String(128))
    stemcell_os: Mapped[str] = mapped_column(String(255))
    stemcell_version: Mapped[str] = mapped_column(String(255))
    dependency_key: Mapped[str] = mapped_column(String(128))
    blobstore_id: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Stemcell(Base):
    """One copy of a stemcell in one CPI (a stemcell uploaded to two CPIs is two rows)."""

    __tablename__ = "stemcells"
    __table_args__ = (UniqueConstraint("name", "version", "cpi", name="uq_stemcells_name_version_cpi"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    operating_system: Mapped[str] = mapped_column(String(255))
    cid: Mapped[str] = mapped_column(String(255))
    cpi: Mapped[str] = _cpi_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    manifest_text: Mapped[str] = mapped_column(Text, default="")
    cloud_config_id: Mapped[int | None] = mapped_column(ForeignKey("cloud_configs.id"), nullable=True)
    # The runtime-config versions its last deploy used, so recreate and resurrection keep them.
    runtime_config_ids: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    instances: Mapped[list["Instance"]] = relationship(back_populates="deployment", cascade="all, delete-orphan")


class Instance(Base):
    """One instance of an instance group, with the VM and agent currently behind it."""

    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("deployment_id", "group", "index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    group: Mapped[str] = mapped_column(String(255))
    index: Mapped[int] = mapped_column(Integer)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    az: Mapped[str | None] = mapped_column(String(255), nullable=True)
    bootstrap: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(32), default="started")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vm_cid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    cpi: Mapped[str] = _cpi_column()  # the CPI that made vm_cid: every call for that VM goes there
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host_public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    vm_metadata: Mapped[dict] = mapped_column(JSON, default=dict)
    applied_spec: Mapped[dict] = mapped_column(JSON, default=dict)
    vm_spec_digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    deployment: Mapped[Deployment] = relationship(back_populates="instances")
    disks: Mapped[list["PersistentDisk"]] = relationship(back_populates="instance", cascade="all, delete-orphan")


class PersistentDisk(Base):
    __tablename__ = "persistent_disks"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    cid: Mapped[str] = mapped_column(String(255))
    cpi: Mapped[str] = _cpi_column()
    size: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    instance: Mapped[Instance] = relationship(back_populates="disks")


class OrphanDisk(Base):
    """A persistent disk no instance uses any more (scaled away, deployment deleted,
    ``persistent_disk`` removed): kept, not deleted, so one manifest edit never loses data.
    It is deleted after ``max_orphaned_age_in_days`` or by an explicit clean-up. No foreign
    keys: it outlives its instance and deployment rows, as in BOSH's ``orphan_disks``."""

    __tablename__ = "orphan_disks"
    id: Mapped[int] = mapped_column(primary_key=True)
    cid: Mapped[str] = mapped_column(String(255), unique=True)
    cpi: Mapped[str] = _cpi_column()
    size: Mapped[int] = mapped_column(Integer)
    deployment_name: Mapped[str] = mapped_column(String(255))
    instance_name: Mapped[str] = mapped_column(String(255))  # group/uuid
    az: Mapped[str | None] = mapped_column(String(255), nullable=True)
    orphaned_at: Mapped[datetime] = mapped_column(default=utcnow)


class Variable(Base):
    """The director's credential store: generated and stored variables per deployment."""

    __tablename__ = "variables"
    __table_args__ = (UniqueConstraint("deployment_name", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[dict] = mapped_column(JSON)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(32), default="queued")
    description: Mapped[str] = mapped_column(String(1024))
    deployment_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # the director process running it (DirectorProcess.name); None: a task from before 0006
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # what a worker runs: a task kind (task_kinds.py) and its JSON parameters, cleared when the
    # task ends (a deploy's carry the operator's -v values); None: a task from before 0007
    kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the director (its uuid) whose processes may claim it: two directors sharing one database
    # never run each other's tasks on their own buses
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class DirectorProcess(Base):
    """A live director process: a row it renews while it lives. One whose heartbeat lapses is
    gone, and the tasks it ran are failed with that reason (processes.py)."""

    __tablename__ = "director_processes"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A role one director process holds at a time (the health monitor), until it stops
    renewing it (leases.py)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()


class Lock(Base):
    """A deployment lock: a row with an expiry its holder renews; a dead holder's lock lapses."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    task_id: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column()


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_name: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[int | None] = mapped_column(nullable=True)
    deployment_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    instance: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    context: Mapped[dict] = mapped_column(JSON, default=dict)


class ResurrectionRule(Base):
    """``bosh-py update-resurrection on|off``: "" for deployment_name means every
    deployment, "" for instance_group every group of it; the most specific rule wins and
    no rule means on (monitor/resurrection_rules.py)."""

    __tablename__ = "resurrection_rules"
    __table_args__ = (UniqueConstraint("deployment_name", "instance_group"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_name: Mapped[str] = mapped_column(String(255))
    instance_group: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class VmIntent(Base):
    """A VM the director asked a CPI to create, written before ``create_vm`` and given the
    cid after: if the director dies in between, the row says which VM the IaaS may hold
    that no instance knows (``bosh-py cck`` / ``orphaned-vms``). Deleted once the VM is
    saved on its instance or deleted again. No foreign keys: it outlives its rows."""

    __tablename__ = "vm_intents"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), unique=True)
    cpi: Mapped[str] = _cpi_column()
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deployment_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    instance_name: Mapped[str | None] = mapped_column(String(255), nullable=True)  # group/uuid
    vm_cid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
