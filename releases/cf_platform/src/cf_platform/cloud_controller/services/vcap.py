"""What an app sees of its bindings: the ``services`` of a DEA start message.

The DEA groups them by label into ``VCAP_SERVICES`` (dea/app_env.py), Cloud Foundry's shape
``{label: [{name, label, plan, credentials, tags}]}``.
"""

from __future__ import annotations

from typing import Any

from .models import Service, ServiceBinding, ServiceInstance, ServicePlan


def service_entry(binding: ServiceBinding, instance: ServiceInstance, plan: ServicePlan,
                  service: Service) -> dict[str, Any]:
    return {"name": instance.name, "label": service.label, "plan": plan.name, "tags": list(service.tags),
            "credentials": binding.credentials, "instance_name": instance.name,
            "binding_name": None}


def vcap_services(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The grouping the DEA does, for tests and ``GET /v2/apps/:guid/env``-like views."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(entry["label"], []).append(entry)
    return grouped
