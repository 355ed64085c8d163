"""Plain records of what the cloud controller stores (apps, routes, domains, crashes, and the
tenancy: organizations, spaces, users and their roles)."""

from __future__ import annotations

from dataclasses import dataclass, field

STARTED = "STARTED"
STOPPED = "STOPPED"
APP_STATES = (STARTED, STOPPED)

PENDING = "PENDING"
STAGED = "STAGED"
FAILED = "FAILED"


@dataclass
class App:
    guid: str
    name: str
    memory: int
    instances: int
    disk_quota: int
    state: str
    package_state: str
    version: str
    created_at: str
    updated_at: str
    buildpack: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    bits_sha1: str | None = None
    package_updated_at: str | None = None
    droplet_sha1: str | None = None
    detected_buildpack: str | None = None
    start_command: str | None = None
    staging_failed_reason: str | None = None
    staging_failed_description: str | None = None
    staging_log: str = ""
    staging_task_id: str | None = None
    space_guid: str | None = None          # None only before the database's migration ran

    @property
    def runnable(self) -> bool:
        """Instances may run: the user wants it started and a droplet exists."""
        return self.state == STARTED and self.package_state == STAGED


@dataclass
class Domain:
    guid: str
    name: str
    created_at: str


@dataclass
class Route:
    guid: str
    host: str
    domain_guid: str
    created_at: str


@dataclass
class Crash:
    """One ``droplet.exited`` with reason CRASHED, kept so the client can say why."""
    app_guid: str
    version: str
    instance: str
    index: int
    exit_status: int | None
    exit_description: str
    since: float


ORG_MANAGER = "manager"
ORG_USER = "user"
ORG_ROLES = (ORG_MANAGER, ORG_USER)
SPACE_DEVELOPER = "developer"
SPACE_AUDITOR = "auditor"
SPACE_ROLES = (SPACE_DEVELOPER, SPACE_AUDITOR)


@dataclass
class Organization:
    guid: str
    name: str
    created_at: str


@dataclass
class Space:
    guid: str
    name: str
    organization_guid: str
    created_at: str


@dataclass
class User:
    """A UAA user the CC knows by guid (from ``POST /v2/users`` or a token it has seen)."""
    guid: str
    username: str
    created_at: str
