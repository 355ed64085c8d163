"""A broker's ``GET /v2/catalog`` answer, checked and turned into services and plans.

Pure: the caller fetched the JSON; every error names the path inside the catalog
(``services[0].plans[1].id``) so a broker author can fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_SERVICES = 100
MAX_PLANS = 100
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# OSB's permissions a service may ask for; syslog_drain lets its bindings drain the app's logs
REQUIRES = ("syslog_drain", "route_forwarding", "volume_mount")


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogPlan:
    id: str
    name: str
    description: str
    free: bool


@dataclass(frozen=True)
class CatalogService:
    id: str
    name: str
    description: str
    bindable: bool
    tags: tuple[str, ...]
    plans: tuple[CatalogPlan, ...]
    requires: tuple[str, ...] = ()


def _text(obj: dict, key: str, where: str, pattern: re.Pattern | None = None, limit: int = 255) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}.{key} must be a non-empty string")
    if len(value) > limit:
        raise CatalogError(f"{where}.{key} is longer than {limit} characters")
    if pattern is not None and not pattern.match(value):
        raise CatalogError(f"{where}.{key} {value!r} must be letters, digits, '_', '.' and '-'")
    return value


def _flag(obj: dict, key: str, where: str, default: bool) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise CatalogError(f"{where}.{key} must be true or false")
    return value


def parse_catalog(body: Any) -> list[CatalogService]:
    if not isinstance(body, dict) or not isinstance(body.get("services"), list):
        raise CatalogError("the catalog must be a JSON object with a 'services' list")
    raw_services = body["services"]
    if not raw_services:
        raise CatalogError("the catalog lists no services")
    if len(raw_services) > MAX_SERVICES:
        raise CatalogError(f"the catalog lists {len(raw_services)} services, at most {MAX_SERVICES} are accepted")
    services: list[CatalogService] = []
    seen_ids: set[str] = set()
    for i, raw in enumerate(raw_services):
        where = f"services[{i}]"
        if not isinstance(raw, dict):
            raise CatalogError(f"{where} must be an object")
        service_id = _text(raw, "id", where)
        if service_id in seen_ids:
            raise CatalogError(f"{where}.id {service_id!r} is used twice")
        seen_ids.add(service_id)
        tags = raw.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 255 for t in tags):
            raise CatalogError(f"{where}.tags must be a list of strings")
        requires = raw.get("requires", [])
        if not isinstance(requires, list) or not all(r in REQUIRES for r in requires):
            raise CatalogError(f"{where}.requires must list some of {', '.join(REQUIRES)}")
        raw_plans = raw.get("plans")
        if not isinstance(raw_plans, list) or not raw_plans:
            raise CatalogError(f"{where}.plans must list at least one plan")
        if len(raw_plans) > MAX_PLANS:
            raise CatalogError(f"{where}.plans has {len(raw_plans)} plans, at most {MAX_PLANS} are accepted")
        plans: list[CatalogPlan] = []
        for j, raw_plan in enumerate(raw_plans):
            pwhere = f"{where}.plans[{j}]"
            if not isinstance(raw_plan, dict):
                raise CatalogError(f"{pwhere} must be an object")
            plan_id = _text(raw_plan, "id", pwhere)
            if plan_id in seen_ids:
                raise CatalogError(f"{pwhere}.id {plan_id!r} is used twice")
            seen_ids.add(plan_id)
            plans.append(CatalogPlan(plan_id, _text(raw_plan, "name", pwhere, _NAME_RE),
                                     _text(raw_plan, "description", pwhere, limit=1024),
                                     _flag(raw_plan, "free", pwhere, True)))
        names = [p.name for p in plans]
        if len(set(names)) != len(names):
            raise CatalogError(f"{where}.plans: plan names must be unique")
        services.append(CatalogService(service_id, _text(raw, "name", where, _NAME_RE),
                                       _text(raw, "description", where, limit=1024),
                                       _flag(raw, "bindable", where, False), tuple(tags), tuple(plans),
                                       tuple(dict.fromkeys(requires))))
    return services
