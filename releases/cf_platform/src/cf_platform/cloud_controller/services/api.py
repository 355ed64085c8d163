"""The v2 service routes: ``/v2/service_brokers``, ``/v2/services``, ``/v2/service_plans``,
``/v2/service_instances``, ``/v2/service_bindings``.

Who may do what, from the bearer token's scopes: brokers are registered and removed by
``cloud_controller.admin``; instances and bindings are changed by ``cloud_controller.write``
or admin; anyone with a valid token reads, but binding credentials are shown only to those
who may write (a read-only user sees ``[PRIVATE DATA HIDDEN]``, as in Cloud Foundry).
"""

from __future__ import annotations

from collections.abc import Callable

from .. import errors as cc_errors
from ..auth import Identity, TokenError, TokenIssuer, bearer_token
from ..presenters import page
from ..web import Request, Response, Router
from . import errors, presenters
from .bindings import Bindings
from .brokers import Brokers
from .instances import Instances, accepts_incomplete
from .store import ServiceStore

ADMIN = "cloud_controller.admin"
WRITE = "cloud_controller.write"

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
                 tokens: TokenIssuer) -> None:
        self.store = store
        self.brokers = brokers
        self.instances = instances
        self.bindings = bindings
        self.tokens = tokens

    def register(self, router: Router) -> None:
        read, write, admin = self._as(None), self._as(WRITE), self._as(ADMIN)
        router.add("GET", "/v2/service_brokers", read(self.list_brokers))
        router.add("POST", "/v2/service_brokers", admin(self.create_broker))
        router.add("GET", "/v2/service_brokers/<guid>", read(self.get_broker))
        router.add("DELETE", "/v2/service_brokers/<guid>", admin(self.delete_broker))
        router.add("GET", "/v2/services", read(self.list_services))
        router.add("GET", "/v2/services/<guid>", read(self.get_service))
        router.add("GET", "/v2/services/<guid>/service_plans", read(self.service_plans))
        router.add("GET", "/v2/service_plans", read(self.list_plans))
        router.add("GET", "/v2/service_instances", read(self.list_instances))
        router.add("POST", "/v2/service_instances", write(self.create_instance))
        router.add("GET", "/v2/service_instances/<guid>", read(self.get_instance))
        router.add("DELETE", "/v2/service_instances/<guid>", write(self.delete_instance))
        router.add("GET", "/v2/service_bindings", read(self.list_bindings))
        router.add("POST", "/v2/service_bindings", write(self.create_binding))
        router.add("GET", "/v2/service_bindings/<guid>", read(self.get_binding))
        router.add("DELETE", "/v2/service_bindings/<guid>", write(self.delete_binding))
        router.add("GET", "/v2/apps/<guid>/service_bindings", read(self.app_bindings))

    def _as(self, scope: str | None) -> Callable[[IdentifiedHandler], Callable[[Request], Response]]:
        def wrap(handler: IdentifiedHandler) -> Callable[[Request], Response]:
            def check(request: Request) -> Response:
                token = bearer_token(request.header("Authorization"))
                if token is None:
                    raise cc_errors.invalid_auth_token("Invalid Auth Token: an 'Authorization: bearer <token>' "
                                                       "header is required (POST /oauth/token to get one)")
                try:
                    identity = self.tokens.verify(token)
                except TokenError as e:
                    raise cc_errors.invalid_auth_token(str(e)) from None
                if scope is not None and scope not in identity.scopes and ADMIN not in identity.scopes:
                    raise errors.not_authorized()
                return handler(request, identity)
            return check
        return wrap

    # -- brokers, services, plans ---------------------------------------------------------

    def list_brokers(self, request: Request, who: Identity) -> Response:
        return Response.json(page(presenters.broker(b) for b in self.store.brokers()))

    def create_broker(self, request: Request, who: Identity) -> Response:
        return Response.json(presenters.broker(self.brokers.register(request.json())), 201)

    def get_broker(self, request: Request, who: Identity) -> Response:
        return Response.json(presenters.broker(self.brokers.get(request.params["guid"])))

    def delete_broker(self, request: Request, who: Identity) -> Response:
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

    def _present_instance(self, instance) -> dict:  # type: ignore[no-untyped-def]
        plan = self.store.plan(instance.plan_guid)
        service = self.store.service(plan.service_guid) if plan else None
        guids = [b.guid for b in self.store.bindings(instance_guid=instance.guid)]
        return presenters.instance(instance, plan.name if plan else None, service.label if service else None, guids)

    def list_instances(self, request: Request, who: Identity) -> Response:
        name = _filters(request).get("name")
        found = [i for i in self.store.instances() if name is None or i.name == name]
        return Response.json(page(self._present_instance(i) for i in found))

    def create_instance(self, request: Request, who: Identity) -> Response:
        instance = self.instances.create(request.json(), accepts_incomplete(request.query))
        status = 202 if instance.last_operation.state == "in progress" else 201
        return Response.json(self._present_instance(instance), status)

    def get_instance(self, request: Request, who: Identity) -> Response:
        return Response.json(self._present_instance(self.instances.get(request.params["guid"])))

    def delete_instance(self, request: Request, who: Identity) -> Response:
        left = self.instances.delete(request.params["guid"], accepts_incomplete(request.query))
        if left is None:
            return Response(204)
        return Response.json(self._present_instance(left), 202)

    # -- bindings -------------------------------------------------------------------------

    def _shows_credentials(self, who: Identity) -> bool:
        return WRITE in who.scopes or ADMIN in who.scopes

    def list_bindings(self, request: Request, who: Identity) -> Response:
        f = _filters(request)
        found = self.store.bindings(app_guid=f.get("app_guid"), instance_guid=f.get("service_instance_guid"))
        show = self._shows_credentials(who)
        return Response.json(page(presenters.binding(b, show) for b in found))

    def create_binding(self, request: Request, who: Identity) -> Response:
        return Response.json(presenters.binding(self.bindings.create(request.json()), True), 201)

    def get_binding(self, request: Request, who: Identity) -> Response:
        return Response.json(presenters.binding(self.bindings.get(request.params["guid"]),
                                                self._shows_credentials(who)))

    def delete_binding(self, request: Request, who: Identity) -> Response:
        self.bindings.delete(request.params["guid"])
        return Response(204)

    def app_bindings(self, request: Request, who: Identity) -> Response:
        show = self._shows_credentials(who)
        found = self.store.bindings(app_guid=request.params["guid"])
        return Response.json(page(presenters.binding(b, show) for b in found))
