"""Bindings: the broker makes credentials for an app; the app gets them as VCAP_SERVICES.

Credentials are kept in the CC's database (on its persistent disk) and go out only in the
DEA start message (so the app reads them) and to users who may change the app (access.py);
they are never logged. A binding reaches a running app on its next start, restart or
restage, as in Cloud Foundry. A broker's ``syslog_drain_url`` is kept with the binding too:
the log server drains the app's lines there (log_drains.py, docs/logs.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..db import Database, new_guid, now_iso
from ..models import App
from . import errors
from .broker_client import BrokerFailure
from .drain_url import DrainUrlInvalid, check_drain_url
from .failures import api_error
from .instances import Instances
from .models import SUCCEEDED, ServiceBinding, ServiceInstance
from .store import ServiceStore, Taken
from .vcap import service_entry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewBinding:
    app: App
    instance: ServiceInstance
    parameters: dict[str, Any]


class Bindings:
    def __init__(self, store: ServiceStore, instances: Instances, apps: Database) -> None:
        self.store = store
        self.instances = instances
        self.apps = apps

    def get(self, guid: str) -> ServiceBinding:
        binding = self.store.binding(guid)
        if binding is None:
            raise errors.binding_not_found(guid)
        return binding

    def prepare(self, body: dict) -> NewBinding:
        """The request checked and its app and instance found (404 when either is unknown);
        the caller's rights on both are checked by the API (access.py) before :meth:`create`."""
        app_guid, instance_guid = body.get("app_guid"), body.get("service_instance_guid")
        parameters = body.get("parameters", {})
        if not isinstance(app_guid, str) or not app_guid:
            raise errors.binding_invalid("app_guid is required")
        if not isinstance(instance_guid, str) or not instance_guid:
            raise errors.binding_invalid("service_instance_guid is required")
        if not isinstance(parameters, dict):
            raise errors.binding_invalid("parameters must be a JSON object")
        app = self.apps.get_app(app_guid)
        if app is None:
            raise errors.ApiError(404, 100004, "CF-AppNotFound", f"The app could not be found: {app_guid}")
        return NewBinding(app, self.instances.get(instance_guid), parameters)

    def create(self, new: NewBinding) -> ServiceBinding:
        app, instance, parameters = new.app, new.instance, new.parameters
        op = instance.last_operation
        if not (op.type == "create" and op.state == SUCCEEDED):
            if op.state == "in progress":
                raise errors.operation_in_progress(instance.name)
            raise errors.binding_invalid(f"the service instance {instance.name} is not ready "
                                         f"(last operation: {op.type} {op.state})")
        plan, service = self.instances.plan_and_service(instance)
        if not service.bindable:
            raise errors.ApiError(400, 90005, "CF-UnbindableService",
                                  f"The service {service.label} does not allow bindings")
        if self.store.bindings(app_guid=app.guid, instance_guid=instance.guid):
            raise errors.binding_taken()
        binding = ServiceBinding(new_guid(), app.guid, instance.guid, {}, now_iso())
        request = {"service_id": service.unique_id, "plan_id": plan.unique_id, "app_guid": app.guid,
                   "bind_resource": {"app_guid": app.guid, "space_guid": instance.space_guid},
                   "parameters": parameters}
        client = self.instances.broker_client(service)
        try:
            _status, answer = client.bind(instance.guid, binding.guid, request)
        except BrokerFailure as e:
            raise api_error(e) from None
        credentials = answer.get("credentials", {})
        if not isinstance(credentials, dict):
            self._unbind_quietly(binding, service.unique_id, plan.unique_id)
            raise errors.broker_bad_response("The service broker's binding credentials are not a JSON object")
        try:
            binding.syslog_drain_url = check_drain_url(answer.get("syslog_drain_url"))
        except DrainUrlInvalid as e:    # 400, as CF refuses a bad drain: the binding cannot be made
            self._unbind_quietly(binding, service.unique_id, plan.unique_id)
            raise errors.binding_invalid(f"the service broker's {e}") from None
        if binding.syslog_drain_url and "syslog_drain" not in service.requires:
            # as CF: only a service whose catalog (seen by the admin who registered it) asks
            # for syslog_drain may send an app's logs elsewhere
            self._unbind_quietly(binding, service.unique_id, plan.unique_id)
            raise errors.invalid_syslog_drain_url()
        binding.credentials = credentials
        try:
            self.store.create_binding(binding)
        except Taken:
            self._unbind_quietly(binding, service.unique_id, plan.unique_id)
            raise errors.binding_taken() from None
        log.info("bound app %s to service instance %s (binding %s%s)", app.name, instance.name, binding.guid,
                 ", with a syslog drain" if binding.syslog_drain_url else "")
        return binding

    def _unbind_quietly(self, binding: ServiceBinding, service_id: str, plan_id: str) -> None:
        instance = self.instances.get(binding.service_instance_guid)
        _plan, service = self.instances.plan_and_service(instance)
        try:
            self.instances.broker_client(service).unbind(instance.guid, binding.guid, service_id, plan_id)
        except BrokerFailure as e:
            log.warning("could not undo binding %s at the broker: %s", binding.guid, e)

    def delete(self, guid: str) -> None:
        binding = self.get(guid)
        instance = self.instances.get(binding.service_instance_guid)
        plan, service = self.instances.plan_and_service(instance)
        try:
            self.instances.broker_client(service).unbind(instance.guid, guid, service.unique_id, plan.unique_id)
        except BrokerFailure as e:
            raise api_error(e) from None
        self.store.delete_binding(guid)
        log.info("unbound service instance %s from app %s (binding %s)", instance.name, binding.app_guid, guid)

    def unbind_app(self, app_guid: str) -> None:
        """Unbind every binding of an app about to be deleted, as ``cf delete`` does: each
        broker revokes its credentials first (the PostgreSQL broker drops the role), so none
        outlives the app. A broker that fails stops the deletion with its error (the app and
        its remaining bindings stay, so deleting again retries); bindings already unbound
        stay unbound."""
        for binding in self.store.bindings(app_guid=app_guid):
            self.delete(binding.guid)

    def for_app(self, app_guid: str) -> list[dict[str, Any]]:
        """The start message's ``services`` for one app (empty when it has no bindings)."""
        entries = []
        for binding in self.store.bindings(app_guid=app_guid):
            instance = self.store.instance(binding.service_instance_guid)
            if instance is None:
                continue
            plan, service = self.instances.plan_and_service(instance)
            entries.append(service_entry(binding, instance, plan, service))
        return entries
