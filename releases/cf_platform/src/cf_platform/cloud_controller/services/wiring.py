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

    # -- for tenancy/deletion.py (a space deleted with everything in it) ------------------

    def instances_in_space(self, space_guid: str) -> list[tuple[str, str]]:
        return [(i.guid, i.name) for i in self.store.instances() if i.space_guid == space_guid]

    def delete_instance_now(self, guid: str) -> None:
        """Unbind what is still bound to it (at the broker first), then deprovision it,
        synchronously: a broker failure, or one that can only work asynchronously, raises."""
        for binding in self.store.bindings(instance_guid=guid):
            self.bindings.delete(binding.guid)
        self.instances.delete(guid, accepts_incomplete=False)


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
