"""Builds the service side of a cloud controller and plugs it in: routes on the HTTP router,
the bindings' credentials into the DEA start messages, async operations resumed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db import Database
from ..tenancy.access import Access
from ..web import Router
from .api import ServicesApi
from .bindings import Bindings
from .brokers import Brokers
from .instances import Instances
from .migration import migrate_services
from .settings import parse_settings
from .store import ServiceStore


@dataclass
class ServicesPart:
    store: ServiceStore
    instances: Instances
    bindings: Bindings

    def stop(self) -> None:
        self.instances.stop()


def start_services(extra_config: dict[str, Any], db: Database, deas: Any, access: Access,
                   router: Router) -> ServicesPart:
    """``deas`` is the DeaClient: its start messages take each app's bindings from here;
    ``access`` is the public API's tenancy gate (tokens, scopes, roles)."""
    settings = parse_settings(extra_config.get("services"))
    migrate_services(db)
    store = ServiceStore(db)
    instances = Instances(store, settings)
    bindings = Bindings(store, instances, db)
    ServicesApi(store, Brokers(store, settings), instances, bindings, access).register(router)
    deas.services_for = bindings.for_app
    instances.resume()
    return ServicesPart(store, instances, bindings)
