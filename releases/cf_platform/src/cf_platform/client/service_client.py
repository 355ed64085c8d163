"""The cloud controller's v2 service calls from the client's side (brokers, marketplace,
instances, bindings), on top of :class:`CcClient`'s plumbing."""

from __future__ import annotations

from .cc_client import CcClient
from .errors import CfError


class ServiceClient:
    def __init__(self, cc: CcClient) -> None:
        self.cc = cc

    def brokers(self) -> list[dict]:
        return self.cc.request("GET", "/v2/service_brokers")["resources"]

    def create_broker(self, name: str, user: str, password: str, url: str) -> dict:
        return self.cc.request("POST", "/v2/service_brokers", json={
            "name": name, "broker_url": url, "auth_username": user, "auth_password": password}, timeout=120)

    def broker(self, name: str) -> dict:
        for b in self.brokers():
            if b["entity"]["name"] == name:
                return b
        raise CfError(f"Service broker {name} not found")

    def delete_broker(self, guid: str) -> None:
        self.cc.request("DELETE", f"/v2/service_brokers/{guid}")

    def services(self) -> list[dict]:
        return self.cc.request("GET", "/v2/services")["resources"]

    def plan(self, label: str, plan_name: str) -> dict:
        services = self.cc.request("GET", "/v2/services", params={"q": f"label:{label}"})["resources"]
        if not services:
            raise CfError(f"Service offering {label} not found: see `cf-py marketplace`")
        for plan in services[0]["entity"]["service_plans"]:
            if plan["entity"]["name"] == plan_name:
                return plan
        plans = ", ".join(p["entity"]["name"] for p in services[0]["entity"]["service_plans"])
        raise CfError(f"Plan {plan_name} of service {label} not found (plans: {plans})")

    def instances(self, space_guid: str | None = None) -> list[dict]:
        params = {"q": f"space_guid:{space_guid}"} if space_guid else None
        return self.cc.request("GET", "/v2/service_instances", params=params)["resources"]

    def instance(self, name: str) -> dict:
        # names are unique per space: the targeted one's, when a space is targeted
        q = [f"name:{name}"] + ([f"space_guid:{self.cc.space_guid}"] if self.cc.space_guid else [])
        found = self.cc.request("GET", "/v2/service_instances", params={"q": q})["resources"]
        if not found:
            raise CfError(f"Service instance {name} not found")
        return found[0]

    def get_instance(self, guid: str) -> dict | None:
        try:
            return self.cc.request("GET", f"/v2/service_instances/{guid}")
        except CfError as e:
            if "CF-ServiceInstanceNotFound" in str(e):
                return None
            raise

    def create_instance(self, name: str, plan_guid: str, parameters: dict, space_guid: str | None = None) -> dict:
        """In ``space_guid`` (the targeted space); without one the CC uses its default space."""
        body = {"name": name, "service_plan_guid": plan_guid, "parameters": parameters}
        if space_guid:
            body["space_guid"] = space_guid
        return self.cc.request("POST", "/v2/service_instances", params={"accepts_incomplete": "true"},
                               json=body, ok=(201, 202), timeout=120)

    def delete_instance(self, guid: str) -> dict | None:
        return self.cc.request("DELETE", f"/v2/service_instances/{guid}", params={"accepts_incomplete": "true"},
                               ok=(202, 204), timeout=120)

    def bindings(self, app_guid: str | None = None, instance_guid: str | None = None) -> list[dict]:
        q = []
        if app_guid:
            q.append(f"app_guid:{app_guid}")
        if instance_guid:
            q.append(f"service_instance_guid:{instance_guid}")
        return self.cc.request("GET", "/v2/service_bindings", params={"q": q})["resources"]

    def bind(self, app_guid: str, instance_guid: str, parameters: dict) -> dict:
        return self.cc.request("POST", "/v2/service_bindings", json={
            "app_guid": app_guid, "service_instance_guid": instance_guid, "parameters": parameters}, timeout=120)

    def unbind(self, guid: str) -> None:
        self.cc.request("DELETE", f"/v2/service_bindings/{guid}", timeout=120)
