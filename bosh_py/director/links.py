"""Links: what a job consumes is resolved to the instances and properties of the job that
provides it, by explicit `from` or else by type when exactly one provider has that type."""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.errors import BoshPyError


class LinkError(BoshPyError):
    pass


@dataclass
class Provider:
    name: str  # link name as provided (or its `as`)
    type: str
    group: str
    job: str
    instances: list[dict]
    properties: dict


def property_value(properties: dict, dotted: str, spec_properties: dict) -> object:
    node: object = properties
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return (spec_properties.get(dotted) or {}).get("default")
    return node


def providers_of(groups: list, job_specs: dict[tuple[str, str], dict]) -> list[Provider]:
    """Every link every job of the deployment provides; ``groups`` are planner GroupPlans."""
    found = []
    for group in groups:
        instances = [{"name": group.name, "id": i.uuid, "index": i.index, "az": i.az,
                      "address": i.ip, "bootstrap": i.bootstrap} for i in group.instances]
        for job in group.jobs:
            spec = job_specs[(job.release, job.name)]
            spec_properties = spec.get("properties") or {}
            for provided in spec.get("provides") or []:
                override = job.provides.get(provided["name"]) or {}
                if override == "nil":
                    continue
                exposed = {name: property_value(job.properties, name, spec_properties)
                           for name in provided.get("properties") or []}
                found.append(Provider(override.get("as", provided["name"]), provided.get("type", provided["name"]),
                                      group.name, job.name, instances, exposed))
    return found


def resolve_links(group_name: str, job, spec: dict, providers: list[Provider], where: str) -> dict[str, dict]:
    """The links one job sees in its templates, by the name it consumes them under."""
    links: dict[str, dict] = {}
    for consumed in spec.get("consumes") or []:
        name, link_type = consumed["name"], consumed.get("type", consumed["name"])
        wanted = job.consumes.get(name)
        if wanted == "nil":
            continue
        if isinstance(wanted, dict) and wanted.get("from"):
            matches = [p for p in providers if p.name == wanted["from"] and p.type == link_type]
        else:
            matches = [p for p in providers if p.type == link_type]
            same_group = [p for p in matches if p.group == group_name]
            if len(matches) > 1 and len(same_group) == 1:
                matches = same_group
        if not matches:
            if consumed.get("optional"):
                continue
            raise LinkError(f"{where}/consumes/{name}: no job in the deployment provides a link of type "
                            f"'{link_type}'")
        if len(matches) > 1:
            names = ", ".join(f"{p.group}/{p.job}.{p.name}" for p in matches)
            raise LinkError(f"{where}/consumes/{name}: several jobs provide type '{link_type}' ({names}); "
                            f"choose one with `from`")
        provider = matches[0]
        links[name] = {"instances": provider.instances, "properties": provider.properties,
                       "address": provider.instances[0]["address"] if provider.instances else None}
    return links
