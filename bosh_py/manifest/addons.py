"""Addons: jobs the operator colocates onto instance groups chosen by placement rules.

They come from a deployment manifest's own ``addons:`` and from the runtime-configs in
force (BOSH's ``update-runtime-config``). Two steps, both pure:

1. ``merge_runtime_configs`` folds each runtime-config's releases, variables, tags and
   addons into the raw manifest, before interpolation, so the deployment's credential store
   fills their ``((placeholders))`` and validation sees them as one document.
2. ``place_addons``, after validation, appends each addon's jobs to every instance group
   its ``include`` selects and its ``exclude`` does not; the planner then sees ordinary jobs.

Placement follows the BOSH director: every key a rule names must match (AND), any value
listed under one key may (OR); an empty ``include`` selects everything, an empty
``exclude`` nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bosh_py.manifest.errors import ManifestError, join_path
from bosh_py.manifest.models import Addon, DeploymentManifest, InstanceGroup, PlacementRules, RuntimeConfig
from bosh_py.manifest.validate import labels, model_from


@dataclass(frozen=True)
class NamedRuntimeConfig:
    name: str
    doc: dict[str, Any]

    @property
    def source(self) -> str:
        return f"runtime-config '{self.name}'"


def parse_runtime_config(doc: Any, source: str = "runtime-config") -> RuntimeConfig:
    """A runtime-config document → validated model; every problem named by path."""
    config = model_from(RuntimeConfig, doc, source)
    problems: list[ManifestError] = []
    release_names = [release.name for release in config.releases]
    for section, names in (("releases", release_names), ("addons", [a.name for a in config.addons]),
                           ("variables", [v.name for v in config.variables])):
        seen: set[str] = set()
        for step, name in zip(labels(names), names):
            if name in seen:
                problems.append(ManifestError(f"duplicate name '{name}'", path=join_path(section, step, "name"),
                                              source=source))
            seen.add(name)
    for step, release in zip(labels(release_names), config.releases):
        if release.version == "latest":
            problems.append(ManifestError("a runtime-config names an exact version, not 'latest'",
                                          path=join_path("releases", step, "version"), source=source))
    for step, addon in zip(labels([a.name for a in config.addons]), config.addons):
        for index, job in enumerate(addon.jobs):
            if job.release not in release_names:
                problems.append(ManifestError(
                    f"release '{job.release}' is not in this runtime-config's releases",
                    path=join_path("addons", step, "jobs", index, "release"), source=source))
    if problems:
        raise ManifestError.collect(problems)
    return config


def _merge_named(target: list, additions: list, section: str, config: NamedRuntimeConfig,
                 same: Any) -> None:
    """Append ``additions`` to ``target`` by name; an entry of the same name must be ``same``."""
    by_name = {item.get("name"): item for item in target if isinstance(item, dict)}
    for index, item in enumerate(additions):
        existing = by_name.get(item["name"])
        if existing is None:
            target.append(copy.deepcopy(item))
            by_name[item["name"]] = item
        elif not same(existing, item):
            raise ManifestError(f"'{item['name']}' differs from the manifest's (or another runtime-config's) "
                                f"{section[:-1]} of that name", path=join_path(section, index), source=config.source)


def _same_release(a: dict, b: dict) -> bool:
    return str(a.get("version")) == str(b.get("version"))


def merge_runtime_configs(raw: dict[str, Any], configs: Sequence[NamedRuntimeConfig]) -> dict[str, Any]:
    """The raw manifest with the runtime-configs' releases, variables, tags and addons added.

    A release both name must agree on the version, a variable on its whole definition. The
    manifest's own addons may not filter by ``deployments`` (they only ever see their own)."""
    merged = copy.deepcopy(raw)
    for index, addon in enumerate(merged.get("addons") or []):
        if isinstance(addon, dict) and isinstance(addon.get("include"), dict) and "deployments" in addon["include"]:
            raise ManifestError("a deployment's own addons cannot filter by deployments (only a runtime-config's can)",
                                path=join_path("addons", index, "include", "deployments"), source="manifest")
    for config in configs:
        parse_runtime_config(config.doc, config.source)  # stored ones were checked; this guards old rows
        doc = config.doc
        _merge_named(merged.setdefault("releases", []), doc.get("releases") or [], "releases", config, _same_release)
        _merge_named(merged.setdefault("variables", []), doc.get("variables") or [], "variables", config,
                     lambda a, b: a == b)
        merged["tags"] = {**(doc.get("tags") or {}), **(merged.get("tags") or {})}
        merged.setdefault("addons", []).extend(copy.deepcopy(doc.get("addons") or []))
    if not merged.get("tags"):
        merged.pop("tags", None)
    return merged


# -- placement -------------------------------------------------------------------------------

def _stemcell_os(manifest: DeploymentManifest, alias: str) -> str | None:
    stemcell = next((s for s in manifest.stemcells if s.alias == alias), None)
    if stemcell is None:
        return None
    return stemcell.os or stemcell.name


def rule_matches(rules: PlacementRules, deployment: str, group: InstanceGroup, jobs: Sequence[tuple[str, str]],
                 stemcell_os: str | None) -> bool | None:
    """True/False when the rule names at least one key, None when it names none."""
    checks: list[bool] = []
    if rules.deployments:
        checks.append(deployment in rules.deployments)
    if rules.instance_groups:
        checks.append(group.name in rules.instance_groups)
    if rules.jobs:
        checks.append(any((job.name, job.release) in jobs for job in rules.jobs))
    if rules.stemcell:
        checks.append(stemcell_os is not None and any(ref.os == stemcell_os for ref in rules.stemcell))
    if rules.azs:
        checks.append(bool(set(group.azs or []) & set(rules.azs)))
    if rules.networks:
        checks.append(bool({n.name for n in group.networks} & set(rules.networks)))
    if rules.lifecycle is not None:
        checks.append(group.lifecycle == rules.lifecycle)
    return all(checks) if checks else None


def addon_applies(addon: Addon, deployment: str, group: InstanceGroup, jobs: Sequence[tuple[str, str]],
                  stemcell_os: str | None) -> bool:
    included = True if addon.include is None else rule_matches(addon.include, deployment, group, jobs, stemcell_os)
    excluded = False if addon.exclude is None else rule_matches(addon.exclude, deployment, group, jobs, stemcell_os)
    return included is not False and not excluded


def place_addons(doc: dict[str, Any], manifest: DeploymentManifest) -> dict[str, Any]:
    """``doc`` (the validated manifest ``manifest`` was parsed from) with every addon's jobs
    appended to the instance groups it applies to, in order: manifest addons first, then
    each runtime-config's. A job already in the group is an error, not a silent skip."""
    placed = copy.deepcopy(doc)
    groups = placed.get("instance_groups") or []
    problems: list[ManifestError] = []
    for group_doc, group in zip(groups, manifest.instance_groups):
        jobs = [(job.name, job.release) for job in group.jobs]
        os_name = _stemcell_os(manifest, group.stemcell)
        for addon_doc, addon in zip(placed.get("addons") or [], manifest.addons):
            if not addon_applies(addon, manifest.name, group, jobs, os_name):
                continue
            for job_doc, job in zip(addon_doc.get("jobs") or [], addon.jobs):
                if any(name == job.name for name, _ in jobs):
                    problems.append(ManifestError(
                        f"addon '{addon.name}' adds job '{job.name}', which the instance group already has",
                        path=join_path("instance_groups", group.name, "jobs"), source="manifest"))
                    continue
                group_doc.setdefault("jobs", []).append(copy.deepcopy(job_doc))
                jobs.append((job.name, job.release))
    if problems:
        raise ManifestError.collect(problems)
    return placed
