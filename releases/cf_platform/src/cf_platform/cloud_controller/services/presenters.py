"""v2 JSON of brokers, services, plans, instances and bindings (the broker password and,
for read-only users, binding credentials left out)."""

from __future__ import annotations

from ..presenters import resource
from .models import Service, ServiceBinding, ServiceBroker, ServiceInstance, ServicePlan

HIDDEN = "[PRIVATE DATA HIDDEN]"


def broker(b: ServiceBroker) -> dict:
    return resource(b.guid, f"/v2/service_brokers/{b.guid}", b.created_at,
                    {"name": b.name, "broker_url": b.broker_url, "auth_username": b.auth_username})


def service(s: Service, plans: list[ServicePlan]) -> dict:
    return resource(s.guid, f"/v2/services/{s.guid}", s.created_at, {
        "label": s.label, "description": s.description, "bindable": s.bindable, "tags": s.tags,
        "requires": s.requires,
        "unique_id": s.unique_id, "service_broker_guid": s.broker_guid, "active": True,
        "service_plans_url": f"/v2/services/{s.guid}/service_plans",
        "service_plans": [plan(p) for p in plans]})


def plan(p: ServicePlan) -> dict:
    return resource(p.guid, f"/v2/service_plans/{p.guid}", p.created_at, {
        "name": p.name, "description": p.description, "free": p.free, "unique_id": p.unique_id,
        "service_guid": p.service_guid, "public": True, "active": True,
        "service_url": f"/v2/services/{p.service_guid}"})


def instance(i: ServiceInstance, plan_name: str | None, label: str | None, binding_guids: list[str]) -> dict:
    return resource(i.guid, f"/v2/service_instances/{i.guid}", i.created_at, {
        "name": i.name, "space_guid": i.space_guid, "space_url": f"/v2/spaces/{i.space_guid}",
        "service_plan_guid": i.plan_guid, "service_plan_name": plan_name, "service_label": label,
        "dashboard_url": i.dashboard_url, "type": "managed_service_instance",
        "last_operation": i.last_operation.present(i.updated_at),
        "service_bindings_url": f"/v2/service_instances/{i.guid}/service_bindings",
        "service_binding_guids": binding_guids}, i.updated_at)


def binding(b: ServiceBinding, show_credentials: bool) -> dict:
    return resource(b.guid, f"/v2/service_bindings/{b.guid}", b.created_at, {
        "app_guid": b.app_guid, "service_instance_guid": b.service_instance_guid,
        "credentials": b.credentials if show_credentials else HIDDEN, "syslog_drain_url": b.syslog_drain_url,
        "app_url": f"/v2/apps/{b.app_guid}", "service_instance_url": f"/v2/service_instances/{b.service_instance_guid}"})
