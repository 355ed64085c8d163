"""Links: what a job consumes is resolved to the instances and properties of the job that
provides it, by explicit `from` or else by type when exactly one provider has that type
(preferring a provider in the consumer's own instance group)."""

from __future__ import annotations

from dataclasses import dataclass

from bosh_py.errors import BoshPyError
from bosh_py.release.render import link_from_provider
from bosh_py.release.tarball import JobArchive


class LinkError(BoshPyError):
    pass


@dataclass
class Provider:
    name: str  # the link name as provided (or its `as`)
    type: str
    group: str
    job: str
    data: dict  # what templates see through link(): instances, properties, address


def providers_of(deployment: str, groups: list, archives: dict[tuple[str, str], JobArchive]) -> list[Provider]:
    """Every link every job of the deployment provides; ``groups`` are planner GroupPlans."""
    found = []
    for group in groups:
        instances = [{"name": group.name, "id": i.uuid, "index": i.index, "az": i.az,
                      "address": i.ip, "bootstrap": i.bootstrap} for i in group.instances]
        for job in group.jobs:
            spec = archives[(job.release, job.name)].spec
            for provided in spec.provides:
                override = job.provides.get(provided.name)
                if override == "nil":
                    continue
                data = link_from_provider(spec, job.properties, provided.name, instances, deployment=deployment)
                found.append(Provider((override or {}).get("as", provided.name), provided.type,
                                      group.name, job.name, data))
    return found


def resolve_links(group_name: str, job, archive: JobArchive, providers: list[Provider],  # type: ignore[no-untyped-def]
                  where: str) -> dict[str, dict]:
    """The links one job sees in its templates, by the name it consumes them under."""
    links: dict[str, dict] = {}
    for consumed in archive.spec.consumes:
        wanted = job.consumes.get(consumed.name)
        if wanted == "nil":
            continue
        if isinstance(wanted, dict) and wanted.get("from"):
            matches = [p for p in providers if p.name == wanted["from"] and p.type == consumed.type]
        else:
            matches = [p for p in providers if p.type == consumed.type]
            same_group = [p for p in matches if p.group == group_name]
            if len(matches) > 1 and len(same_group) == 1:
                matches = same_group
        if not matches:
            if consumed.optional:
                continue
            raise LinkError(f"{where}/consumes/{consumed.name}: no job in the deployment provides a link "
                            f"of type '{consumed.type}'")
        if len(matches) > 1:
            names = ", ".join(f"{p.group}/{p.job}.{p.name}" for p in matches)
            raise LinkError(f"{where}/consumes/{consumed.name}: several jobs provide type '{consumed.type}' "
                            f"({names}); choose one with `from`")
        links[consumed.name] = matches[0].data
    return links
