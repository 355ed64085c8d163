"""Plain records of the service side of the cloud controller (docs/services.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IN_PROGRESS = "in progress"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass
class ServiceBroker:
    guid: str
    name: str
    broker_url: str
    auth_username: str
    auth_password: str      # needed to call the broker; never presented, never logged
    created_at: str

    def __repr__(self) -> str:  # keeps the password out of tracebacks and debug logs
        return f"ServiceBroker(guid={self.guid!r}, name={self.name!r}, broker_url={self.broker_url!r})"


@dataclass
class Service:
    guid: str
    broker_guid: str
    unique_id: str          # the broker's id for it (OSB service_id)
    label: str
    description: str
    bindable: bool
    tags: list[str]
    created_at: str
    requires: list[str] = field(default_factory=list)   # OSB's: "syslog_drain" lets bindings drain logs


@dataclass
class ServicePlan:
    guid: str
    service_guid: str
    unique_id: str          # the broker's id for it (OSB plan_id)
    name: str
    description: str
    free: bool
    created_at: str


@dataclass
class LastOperation:
    type: str               # create | delete
    state: str              # in progress | succeeded | failed
    description: str = ""
    broker_operation: str | None = None   # the broker's opaque ``operation`` to poll with

    def present(self, updated_at: str) -> dict[str, Any]:
        return {"type": self.type, "state": self.state, "description": self.description,
                "updated_at": updated_at}


@dataclass
class ServiceInstance:
    guid: str
    name: str
    plan_guid: str
    last_operation: LastOperation
    created_at: str
    updated_at: str
    dashboard_url: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    space_guid: str = ""    # the space it belongs to (who sees and changes it: access.py)


@dataclass
class ServiceBinding:
    guid: str
    app_guid: str
    service_instance_guid: str
    credentials: dict[str, Any]
    created_at: str
    syslog_drain_url: str | None = None   # the broker's drain for the app's logs (log_drains.py)

    def __repr__(self) -> str:  # credentials stay out of logs
        return (f"ServiceBinding(guid={self.guid!r}, app_guid={self.app_guid!r}, "
                f"service_instance_guid={self.service_instance_guid!r})")
