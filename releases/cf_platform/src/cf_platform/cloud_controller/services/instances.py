"""Service instances: provision and deprovision through the plan's broker.

A new instance's row is written first ("create in progress"), so its name is taken while the
broker works; a broker that fails a synchronous create leaves no row behind. With
``accepts_incomplete=true`` a broker may answer 202 and the instance stays "in progress"
until last_operation.py sees it end.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ..db import new_guid, now_iso
from ..models import Space
from . import errors
from .broker_client import BrokerClient, BrokerFailure
from .brokers import client_for
from .failures import api_error
from .last_operation import Poller
from .models import (
    FAILED,
    IN_PROGRESS,
    SUCCEEDED,
    LastOperation,
    Service,
    ServiceInstance,
    ServicePlan,
)
from .settings import ServiceSettings
from .store import ServiceStore, Taken

log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


class Instances:
    def __init__(self, store: ServiceStore, settings: ServiceSettings) -> None:
        self.store = store
        self.settings = settings
        self.poller = Poller(settings.poll_interval, settings.max_poll_duration, self._finished)

    # -- reading --------------------------------------------------------------------------

    def get(self, guid: str) -> ServiceInstance:
        instance = self.store.instance(guid)
        if instance is None:
            raise errors.instance_not_found(guid)
        return instance

    def plan_and_service(self, instance: ServiceInstance) -> tuple[ServicePlan, Service]:
        plan = self.store.plan(instance.plan_guid)
        service = self.store.service(plan.service_guid) if plan else None
        if plan is None or service is None:
            raise errors.plan_not_found(instance.plan_guid)
        return plan, service

    def broker_client(self, service: Service) -> BrokerClient:
        broker = self.store.broker(service.broker_guid)
        if broker is None:
            raise errors.broker_not_found(service.broker_guid)
        return client_for(broker, self.settings)

    # -- create ---------------------------------------------------------------------------

    def create(self, body: dict, accepts_incomplete: bool, space: Space) -> ServiceInstance:
        """A new instance in ``space`` (the API checked the caller may create it there)."""
        name, plan_guid, parameters = body.get("name"), body.get("service_plan_guid"), body.get("parameters", {})
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise errors.instance_invalid("name must be 1-255 printable characters")
        if not isinstance(plan_guid, str) or not plan_guid:
            raise errors.instance_invalid("service_plan_guid is required")
        if not isinstance(parameters, dict):
            raise errors.instance_invalid("parameters must be a JSON object")
        plan = self.store.plan(plan_guid)
        if plan is None:
            raise errors.plan_not_found(plan_guid)
        service = self.store.service(plan.service_guid)
        assert service is not None
        client = self.broker_client(service)
        now = now_iso()
        instance = ServiceInstance(new_guid(), name, plan.guid, LastOperation("create", IN_PROGRESS), now, now,
                                   None, parameters, space.guid)
        try:
            self.store.create_instance(instance)
        except Taken:
            raise errors.instance_name_taken(name) from None
        request = {"service_id": service.unique_id, "plan_id": plan.unique_id,
                   "organization_guid": space.organization_guid, "space_guid": space.guid, "parameters": parameters,
                   "context": {"platform": "cloudfoundry", "instance_name": name,
                               "organization_guid": space.organization_guid, "space_guid": space.guid}}
        try:
            status, answer = client.provision(instance.guid, request, accepts_incomplete)
        except BrokerFailure as e:
            self.store.delete_instance(instance.guid)
            if e.kind in ("timeout", "bad_response"):
                self._mitigate_orphan(instance.guid, service, plan)
            raise api_error(e) from None
        dashboard = answer.get("dashboard_url") if isinstance(answer.get("dashboard_url"), str) else None
        if status == 202:
            if not accepts_incomplete:
                self.store.delete_instance(instance.guid)
                self._mitigate_orphan(instance.guid, service, plan)
                raise errors.broker_bad_response("The service broker answered 202 Accepted to a synchronous "
                                                 "provision request")
            operation = answer.get("operation") if isinstance(answer.get("operation"), str) else None
            op = LastOperation("create", IN_PROGRESS, "", operation)
            self.store.set_operation(instance.guid, op, dashboard)
            self.poller.watch(client, instance.guid, service.unique_id, plan.unique_id, op)
        else:
            self.store.set_operation(instance.guid, LastOperation("create", SUCCEEDED), dashboard)
        log.info("service instance %s (%s): create %s", name, instance.guid,
                 "in progress" if status == 202 else "succeeded")
        return self.get(instance.guid)

    def _mitigate_orphan(self, guid: str, service: Service, plan: ServicePlan) -> None:
        """The broker may have made the instance though its answer was lost: ask it to delete
        it (OSB's orphan mitigation), once, best effort."""
        try:
            self.broker_client(service).deprovision(guid, service.unique_id, plan.unique_id, accepts_incomplete=True)
        except BrokerFailure as e:
            log.warning("orphan mitigation for service instance %s: %s", guid, e)

    # -- delete ---------------------------------------------------------------------------

    def delete(self, guid: str, accepts_incomplete: bool) -> ServiceInstance | None:
        """None when it is gone; the instance (delete in progress) when the broker works on."""
        instance = self.get(guid)
        if instance.last_operation.state == IN_PROGRESS:
            raise errors.operation_in_progress(instance.name)
        if self.store.bindings(instance_guid=guid):
            raise errors.instance_has_bindings(instance.name)
        plan, service = self.plan_and_service(instance)
        client = self.broker_client(service)
        try:
            status, answer = client.deprovision(guid, service.unique_id, plan.unique_id, accepts_incomplete)
        except BrokerFailure as e:
            raise api_error(e) from None
        if status == 202:
            if not accepts_incomplete:
                raise errors.broker_bad_response("The service broker answered 202 Accepted to a synchronous "
                                                 "deprovision request")
            operation = answer.get("operation") if isinstance(answer.get("operation"), str) else None
            op = LastOperation("delete", IN_PROGRESS, "", operation)
            self.store.set_operation(guid, op)
            self.poller.watch(client, guid, service.unique_id, plan.unique_id, op)
            return self.get(guid)
        self.store.delete_instance(guid)
        log.info("service instance %s (%s) deleted", instance.name, guid)
        return None

    # -- async ----------------------------------------------------------------------------

    def _finished(self, guid: str, op: LastOperation) -> None:
        instance = self.store.instance(guid)
        if instance is None:
            return
        if op.type == "delete" and op.state == SUCCEEDED:
            self.store.delete_instance(guid)
        else:
            self.store.set_operation(guid, op)
        log.info("service instance %s (%s): %s %s", instance.name, guid, op.type, op.state)

    def resume(self) -> None:
        """After a restart: poll again every operation that was still in progress."""
        for instance in self.store.in_progress():
            try:
                plan, service = self.plan_and_service(instance)
                client = self.broker_client(service)
            except errors.ApiError as e:
                self.store.set_operation(instance.guid, LastOperation(instance.last_operation.type, FAILED,
                                                                      e.description))
                continue
            self.poller.watch(client, instance.guid, service.unique_id, plan.unique_id, instance.last_operation)

    def stop(self) -> None:
        self.poller.stop()


def accepts_incomplete(query: dict[str, Any]) -> bool:
    values = query.get("accepts_incomplete") or []
    return bool(values) and values[0] == "true"
