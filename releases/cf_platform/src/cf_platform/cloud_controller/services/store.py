"""SQL for brokers, services, plans, instances and bindings (the tables are in db.py's SCHEMA,
with the columns migration.py adds).

It shares the cloud controller's one SQLite connection and lock (db.Database), so a service
write and an app write never interleave.
"""

from __future__ import annotations

import json
import sqlite3

from ..db import Database, new_guid, now_iso
from .models import (
    LastOperation,
    Service,
    ServiceBinding,
    ServiceBroker,
    ServiceInstance,
    ServicePlan,
)


class Taken(Exception):
    """A unique name (broker, instance) or an (app, instance) binding exists already."""


def _service(r: sqlite3.Row) -> Service:
    return Service(r["guid"], r["broker_guid"], r["unique_id"], r["label"], r["description"],
                   bool(r["bindable"]), json.loads(r["tags"] or "[]"), r["created_at"],
                   json.loads(r["requires"] or "[]"))


def _plan(r: sqlite3.Row) -> ServicePlan:
    return ServicePlan(r["guid"], r["service_guid"], r["unique_id"], r["name"], r["description"],
                       bool(r["free"]), r["created_at"])


def _instance(r: sqlite3.Row) -> ServiceInstance:
    return ServiceInstance(r["guid"], r["name"], r["plan_guid"],
                           LastOperation(r["operation_type"], r["operation_state"], r["operation_description"],
                                         r["broker_operation"]),
                           r["created_at"], r["updated_at"], r["dashboard_url"], json.loads(r["parameters"]),
                           r["space_guid"])


def _binding(r: sqlite3.Row) -> ServiceBinding:
    return ServiceBinding(r["guid"], r["app_guid"], r["service_instance_guid"], json.loads(r["credentials"]),
                          r["created_at"], r["syslog_drain_url"])


class ServiceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- brokers and their catalogs -------------------------------------------------------

    def create_broker(self, broker: ServiceBroker, catalog: list[tuple[Service, list[ServicePlan]]]) -> None:
        """The broker and its catalog in one transaction: all of it or nothing."""
        try:
            with self.db._tx() as c:
                c.execute("INSERT INTO service_brokers (guid, name, broker_url, auth_username, auth_password, "
                          "created_at) VALUES (?, ?, ?, ?, ?, ?)", (broker.guid, broker.name, broker.broker_url,
                                                                   broker.auth_username, broker.auth_password,
                                                                   broker.created_at))
                for service, plans in catalog:
                    c.execute("INSERT INTO services (guid, broker_guid, unique_id, label, description, bindable, "
                              "tags, created_at, requires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (service.guid, broker.guid, service.unique_id, service.label, service.description,
                               int(service.bindable), json.dumps(service.tags), service.created_at,
                               json.dumps(service.requires)))
                    for plan in plans:
                        c.execute("INSERT INTO service_plans (guid, service_guid, unique_id, name, description, "
                                  "free, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  (plan.guid, service.guid, plan.unique_id, plan.name, plan.description,
                                   int(plan.free), plan.created_at))
        except sqlite3.IntegrityError as e:
            raise Taken(broker.name) from e

    def brokers(self) -> list[ServiceBroker]:
        return [ServiceBroker(**dict(r)) for r in self.db._query("SELECT * FROM service_brokers ORDER BY name")]

    def broker(self, guid: str) -> ServiceBroker | None:
        rows = self.db._query("SELECT * FROM service_brokers WHERE guid = ?", (guid,))
        return ServiceBroker(**dict(rows[0])) if rows else None

    def broker_has_instances(self, guid: str) -> bool:
        return bool(self.db._query(
            "SELECT 1 FROM service_instances i JOIN service_plans p ON p.guid = i.plan_guid "
            "JOIN services s ON s.guid = p.service_guid WHERE s.broker_guid = ? LIMIT 1", (guid,)))

    def delete_broker(self, guid: str) -> None:
        with self.db._tx() as c:
            c.execute("DELETE FROM service_brokers WHERE guid = ?", (guid,))

    def services(self) -> list[Service]:
        return [_service(r) for r in self.db._query("SELECT * FROM services ORDER BY label")]

    def service(self, guid: str) -> Service | None:
        rows = self.db._query("SELECT * FROM services WHERE guid = ?", (guid,))
        return _service(rows[0]) if rows else None

    def plans(self, service_guid: str | None = None) -> list[ServicePlan]:
        if service_guid is None:
            rows = self.db._query("SELECT * FROM service_plans ORDER BY name")
        else:
            rows = self.db._query("SELECT * FROM service_plans WHERE service_guid = ? ORDER BY name", (service_guid,))
        return [_plan(r) for r in rows]

    def plan(self, guid: str) -> ServicePlan | None:
        rows = self.db._query("SELECT * FROM service_plans WHERE guid = ?", (guid,))
        return _plan(rows[0]) if rows else None

    # -- instances ------------------------------------------------------------------------

    def create_instance(self, instance: ServiceInstance) -> None:
        op = instance.last_operation
        try:
            with self.db._tx() as c:
                c.execute("INSERT INTO service_instances (guid, name, plan_guid, operation_type, operation_state, "
                          "operation_description, broker_operation, dashboard_url, parameters, created_at, "
                          "updated_at, space_guid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (instance.guid, instance.name, instance.plan_guid, op.type, op.state, op.description,
                           op.broker_operation, instance.dashboard_url, json.dumps(instance.parameters),
                           instance.created_at, instance.updated_at, instance.space_guid))
        except sqlite3.IntegrityError as e:
            raise Taken(instance.name) from e

    def instances(self) -> list[ServiceInstance]:
        return [_instance(r) for r in self.db._query("SELECT * FROM service_instances ORDER BY name")]

    def instance(self, guid: str) -> ServiceInstance | None:
        rows = self.db._query("SELECT * FROM service_instances WHERE guid = ?", (guid,))
        return _instance(rows[0]) if rows else None

    def set_operation(self, guid: str, op: LastOperation, dashboard_url: str | None = None) -> None:
        with self.db._tx() as c:
            c.execute("UPDATE service_instances SET operation_type = ?, operation_state = ?, "
                      "operation_description = ?, broker_operation = ?, "
                      "dashboard_url = COALESCE(?, dashboard_url), updated_at = ? WHERE guid = ?",
                      (op.type, op.state, op.description, op.broker_operation, dashboard_url, now_iso(), guid))

    def delete_instance(self, guid: str) -> None:
        with self.db._tx() as c:
            c.execute("DELETE FROM service_instances WHERE guid = ?", (guid,))

    def in_progress(self) -> list[ServiceInstance]:
        rows = self.db._query("SELECT * FROM service_instances WHERE operation_state = 'in progress'")
        return [_instance(r) for r in rows]

    # -- bindings -------------------------------------------------------------------------

    def create_binding(self, binding: ServiceBinding) -> None:
        try:
            with self.db._tx() as c:
                c.execute("INSERT INTO service_bindings (guid, app_guid, service_instance_guid, credentials, "
                          "created_at, syslog_drain_url) VALUES (?, ?, ?, ?, ?, ?)",
                          (binding.guid, binding.app_guid, binding.service_instance_guid,
                           json.dumps(binding.credentials), binding.created_at, binding.syslog_drain_url))
        except sqlite3.IntegrityError as e:
            raise Taken(binding.app_guid) from e

    def bindings(self, app_guid: str | None = None, instance_guid: str | None = None) -> list[ServiceBinding]:
        sql, args = "SELECT * FROM service_bindings WHERE 1 = 1", []
        if app_guid is not None:
            sql, args = sql + " AND app_guid = ?", [*args, app_guid]
        if instance_guid is not None:
            sql, args = sql + " AND service_instance_guid = ?", [*args, instance_guid]
        return [_binding(r) for r in self.db._query(sql + " ORDER BY created_at", tuple(args))]

    def binding(self, guid: str) -> ServiceBinding | None:
        rows = self.db._query("SELECT * FROM service_bindings WHERE guid = ?", (guid,))
        return _binding(rows[0]) if rows else None

    def delete_binding(self, guid: str) -> None:
        with self.db._tx() as c:
            c.execute("DELETE FROM service_bindings WHERE guid = ?", (guid,))


__all__ = ["ServiceStore", "Taken", "new_guid", "now_iso"]
