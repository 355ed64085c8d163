"""The v2 service routes: ``/v2/service_brokers``, ``/v2/services``, ``/v2/service_plans``,
``/v2/service_instances``, ``/v2/service_bindings``.

Every route passes tenancy's gate first (tenancy/access.py: a valid token with
``cloud_controller.read`` to read, ``.write`` to change, ``.admin`` for either); then
access.py decides on the thing itself: brokers are the admin's; an instance follows its
space's rules, a binding its app's, and binding credentials are shown only to those who may
change the app (others read ``[PRIVATE DATA HIDDEN]``, as in Cloud Foundry).
"""

from __future__ import annotations

from collections.abc import Callable

from ..auth import Identity
from ..presenters import page
from ..tenancy.access import Access
from ..web import Request, Response, Router
from . import errors, presenters
from .access import ServiceAccess
from .bindings import Bindings
from .brokers import Brokers
from .instances import Instances, accepts_incomplete
from .models import ServiceBinding, ServiceInstance
from .store import ServiceStore

IdentifiedHandler = Callable[[Request, Identity], Response]


def _filters(request: Request) -> dict[str, str]:
    """``?q=name:foo&q=app_guid:bar`` (v2's filter syntax, equality only)."""
    found = {}
    for q in request.query.get("q", []):
        key, sep, value = q.partition(":")
        if sep:
            found[key] = value
    return found


class ServicesApi:
    def __init__(self, store: ServiceStore, brokers: Brokers, instances: Instances, bindings: Bindings,
                 access: Access) -> None:
        self.store = store
        self.brokers = brokers
        self.instances = instances
        self.bindings = bindings
        self.gate = access
        self.access = ServiceAccess(access)

    def register(self, router: Router) -> None:
        g = self._identified
        router.add("GET", "/v2/service_brokers", g(self.list_brokers))
        router.add("POST", "/v2/service_brokers", g(self.create_broker))
        router.add("GET", "/v2/service_brokers/<guid>", g(self.get_broker))
        router.add("DELETE", "/v2/service_brokers/<guid>", g(self.delete_broker))
        router.add("GET", "/v2/services", g(self.list_services))
        router.add("GET", "/v2/services/<guid>", g(self.get_service))
        router.add("GET", "/v2/services/<guid>/service_plans", g(self.service_plans))
        router.add("GET", "/v2/service_plans", g(self.list_plans))
        router.add("GET", "/v2/service_instances", g(self.list_instances))
        router.add("POST", "/v2/service_instances", g(self.create_instance))
        router.add("GET", "/v2/service_instances/<guid>", g(self.get_instance))
        router.add("DELETE", "/v2/service_instances/<guid>", g(self.delete_instance))
        router.add("GET", "/v2/service_instances/<guid>/service_bindings", g(self.instance_bindings))
        router.add("GET", "/v2/service_bindings", g(self.list_bindings))
        router.add("POST", "/v2/service_bindings", g(self.create_binding))
        router.add("GET", "/v2/service_bindings/<guid>", g(self.get_binding))
        router.add("DELETE", "/v2/service_bindings/<guid>", g(self.delete_binding))
        router.add("GET", "/v2/apps/<guid>/service_bindings", g(self.app_bindings))

    def _identified(self, handler: IdentifiedHandler) -> Callable[[Request], Response]:
        def check(request: Request) -> Response:
            return handler(request, self.gate.identify(request))
        return check

    # -- brokers, services, plans ---------------------------------------------------------

    def list_brokers(self, request: Request, who: Identity) -> Response:
        """Only the admin registers brokers, so only the admin sees them (CF shows others the
        space-scoped brokers of their spaces, which bosh-py does not have: none)."""
        brokers = self.store.brokers() if who.admin else []
        return Response.json(page(presenters.broker(b) for b in brokers))

    def create_broker(self, request: Request, who: Identity) -> Response:
        self.access.check_admin(who)
        return Response.json(presenters.broker(self.brokers.register(request.json())), 201)

    def get_broker(self, request: Request, who: Identity) -> Response:
        if not who.admin:
            raise errors.broker_not_found(request.params["guid"])
        return Response.json(presenters.broker(self.brokers.get(request.params["guid"])))

    def delete_broker(self, request: Request, who: Identity) -> Response:
        self.access.check_admin(who)
        self.brokers.delete(request.params["guid"])
        return Response(204)

    def list_services(self, request: Request, who: Identity) -> Response:
        label = _filters(request).get("label")
        services = [s for s in self.store.services() if label is None or s.label == label]
        return Response.json(page(presenters.service(s, self.store.plans(s.guid)) for s in services))

    def get_service(self, request: Request, who: Identity) -> Response:
        service = self.store.service(request.params["guid"])
        if service is None:
            raise errors.service_not_found(request.params["guid"])
        return Response.json(presenters.service(service, self.store.plans(service.guid)))

    def service_plans(self, request: Request, who: Identity) -> Response:
        if self.store.service(request.params["guid"]) is None:
            raise errors.service_not_found(request.params["guid"])
        return Response.json(page(presenters.plan(p) for p in self.store.plans(request.params["guid"])))

    def list_plans(self, request: Request, who: Identity) -> Response:
        service_guid = _filters(request).get("service_guid")
        return Response.json(page(presenters.plan(p) for p in self.store.plans(service_guid)))

    # -- instances ------------------------------------------------------------------------

    def _present_instance(self, instance: ServiceInstance) -> dict:
        plan = self.store.plan(instance.plan_guid)
        service = self.store.service(plan.service_guid) if plan else None
        guids = [b.guid for b in self.store.bindings(instance_guid=instance.guid)]
        return presenters.instance(instance, plan.name if plan else None, service.label if service else None, guids)

    def _instance(self, who: Identity, guid: str, write: bool) -> ServiceInstance:
        instance = self.instances.get(guid)
        self.access.check_instance(who, instance, write)
        return instance

    def list_instances(self, request: Request, who: Identity) -> Response:
        f = _filters(request)
        found = [i for i in self.access.readable_instances(who, self.store.instances())
                 if f.get("name") in (None, i.name) and f.get("space_guid") in (None, i.space_guid)]
        return Response.json(page(self._present_instance(i) for i in found))

    def create_instance(self, request: Request, who: Identity) -> Response:
        body = request.json()
        space = self.access.space_for_new_instance(who, body.get("space_guid"))
        instance = self.instances.create(body, accepts_incomplete(request.query), space)
        status = 202 if instance.last_operation.state == "in progress" else 201
        return Response.json(self._present_instance(instance), status)

    def get_instance(self, request: Request, who: Identity) -> Response:
        return Response.json(self._present_instance(self._instance(who, request.params["guid"], write=False)))

    def delete_instance(self, request: Request, who: Identity) -> Response:
        instance = self._instance(who, request.params["guid"], write=True)
        left = self.instances.delete(instance.guid, accepts_incomplete(request.query))
        if left is None:
            return Response(204)
        return Response.json(self._present_instance(left), 202)

    def instance_bindings(self, request: Request, who: Identity) -> Response:
        instance = self._instance(who, request.params["guid"], write=False)
        return self._bindings_page(who, self.store.bindings(instance_guid=instance.guid))

    # -- bindings -------------------------------------------------------------------------

    def _bindings_page(self, who: Identity, bindings: list[ServiceBinding]) -> Response:
        apps = {a.guid: a for a in self.bindings.apps.list_apps()}
        views = self.access.binding_views(who, bindings, apps)
        return Response.json(page(presenters.binding(b, shown) for b, shown in views))

    def _binding(self, who: Identity, guid: str, write: bool) -> tuple[ServiceBinding, bool]:
        """The binding, if the caller may see it (and change it, with ``write``), and whether
        its credentials are shown to them."""
        binding = self.bindings.get(guid)
        app = self.bindings.apps.get_app(binding.app_guid)
        instance = self.store.instance(binding.service_instance_guid)
        return binding, self.access.check_binding(who, binding, app, instance, write)

    def list_bindings(self, request: Request, who: Identity) -> Response:
        f = _filters(request)
        return self._bindings_page(who, self.store.bindings(app_guid=f.get("app_guid"),
                                                            instance_guid=f.get("service_instance_guid")))

    def create_binding(self, request: Request, who: Identity) -> Response:
        new = self.bindings.prepare(request.json())
        self.access.check_new_binding(who, new.app, new.instance)
        return Response.json(presenters.binding(self.bindings.create(new), True), 201)

    def get_binding(self, request: Request, who: Identity) -> Response:
        binding, shown = self._binding(who, request.params["guid"], write=False)
        return Response.json(presenters.binding(binding, shown))

    def delete_binding(self, request: Request, who: Identity) -> Response:
        binding, _ = self._binding(who, request.params["guid"], write=True)
        self.bindings.delete(binding.guid)
        return Response(204)

    def app_bindings(self, request: Request, who: Identity) -> Response:
        self.gate.check_app_guid(who, request.params["guid"], write=False)
        return self._bindings_page(who, self.store.bindings(app_guid=request.params["guid"]))
