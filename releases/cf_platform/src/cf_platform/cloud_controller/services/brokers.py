"""Registering and removing service brokers: fetch the catalog, keep services and plans."""

from __future__ import annotations

import logging
import re

from ..db import new_guid, now_iso
from . import errors
from .broker_client import BrokerClient, BrokerFailure, UrlInvalid, check_broker_url
from .catalog import CatalogError, parse_catalog
from .failures import api_error
from .models import Service, ServiceBroker, ServicePlan
from .settings import ServiceSettings
from .store import ServiceStore, Taken

log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def client_for(broker: ServiceBroker, settings: ServiceSettings) -> BrokerClient:
    return BrokerClient(broker.broker_url, broker.auth_username, broker.auth_password, settings.broker_timeout)


class Brokers:
    def __init__(self, store: ServiceStore, settings: ServiceSettings) -> None:
        self.store = store
        self.settings = settings

    def register(self, body: dict) -> ServiceBroker:
        name = body.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise errors.ApiError(400, 270001, "CF-ServiceBrokerInvalid",
                                  "The service broker is invalid: name must be 1-255 letters, digits, "
                                  "'_', '.' and '-'")
        try:
            url = check_broker_url(body.get("broker_url"))
        except UrlInvalid as e:
            raise errors.broker_url_invalid(str(e)) from None
        user, password = body.get("auth_username"), body.get("auth_password")
        for key, value in (("auth_username", user), ("auth_password", password)):
            if not isinstance(value, str) or not value or len(value) > 1024:
                raise errors.ApiError(400, 270001, "CF-ServiceBrokerInvalid",
                                      f"The service broker is invalid: {key} is required (at most 1024 characters)")
        assert isinstance(user, str) and isinstance(password, str)
        if any(b.name == name for b in self.store.brokers()):
            raise errors.broker_name_taken(name)
        broker = ServiceBroker(new_guid(), name, url, user, password, now_iso())
        try:
            raw = client_for(broker, self.settings).catalog()
        except BrokerFailure as e:
            raise api_error(e) from None
        try:
            catalog = parse_catalog(raw)
        except CatalogError as e:
            raise errors.catalog_invalid(str(e)) from None
        rows: list[tuple[Service, list[ServicePlan]]] = []
        for entry in catalog:
            service = Service(new_guid(), broker.guid, entry.id, entry.name, entry.description, entry.bindable,
                              list(entry.tags), now_iso(), list(entry.requires))
            rows.append((service, [ServicePlan(new_guid(), service.guid, p.id, p.name, p.description, p.free,
                                               now_iso()) for p in entry.plans]))
        try:
            self.store.create_broker(broker, rows)
        except Taken:
            raise errors.broker_name_taken(name) from None
        log.info("registered service broker %s at %s: %d service(s)", name, url, len(rows))
        return broker

    def get(self, guid: str) -> ServiceBroker:
        broker = self.store.broker(guid)
        if broker is None:
            raise errors.broker_not_found(guid)
        return broker

    def delete(self, guid: str) -> None:
        broker = self.get(guid)
        if self.store.broker_has_instances(guid):
            raise errors.broker_not_removable(broker.name)
        self.store.delete_broker(guid)
        log.info("removed service broker %s", broker.name)
