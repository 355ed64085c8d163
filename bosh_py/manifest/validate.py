"""Parse documents into models and check what the models alone cannot: references between
sections, duplicates, and a manifest against a cloud-config. Every problem found is
reported at once, each with its path (see ``errors.py`` for the path rule).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bosh_py.manifest.errors import ManifestError, join_path, named_path
from bosh_py.manifest.load import kind_name
from bosh_py.manifest.models import (
    VARIABLE_TYPES,
    CloudConfig,
    DeploymentManifest,
    DynamicNetwork,
    InstanceGroup,
    Job,
    ManualNetwork,
    ManualSubnet,
)
from bosh_py.manifest.ip_capacity import DynamicDemand, first_shortfall
from bosh_py.manifest.network import SubnetIPs, expand_ip_entries, parse_ip, parse_ip_entry

M = TypeVar("M", bound=BaseModel)

_TYPE_WORDS = {
    "int_type": "expected integer", "int_parsing": "expected integer",
    "int_from_float": "expected integer", "string_type": "expected string",
    "bool_type": "expected boolean", "bool_parsing": "expected boolean",
    "float_type": "expected number", "list_type": "expected list",
    "dict_type": "expected map", "model_type": "expected map",
    "model_attributes_type": "expected map", "union_tag_not_found": "expected map",
}


# -- pydantic errors → ManifestError ------------------------------------------------------

def _translate(error: Mapping[str, Any], doc: Any, source: str | None) -> ManifestError:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return ManifestError(f"missing required key '{loc[-1]}'", path=named_path(doc, loc[:-1]), source=source)
    if kind == "extra_forbidden":
        return ManifestError(f"unknown key '{loc[-1]}'", path=named_path(doc, loc[:-1]), source=source)
    path = named_path(doc, loc)
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        return ManifestError(f"unknown network type '{ctx.get('tag')}' (expected one of: {tags})",
                             path=join_path(path, "type"), source=source)
    if kind in _TYPE_WORDS:
        message = _TYPE_WORDS[kind]
    elif kind == "literal_error":
        message = f"expected {ctx.get('expected')}"
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx.get('ge')}"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx.get('le')}"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind == "too_short":
        message = f"must have at least {ctx.get('min_length')} item(s)"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = error["msg"][:1].lower() + error["msg"][1:]
    return ManifestError(message, path=path, source=source)


def model_from(model: type[M], doc: Any, source: str | None = None) -> M:
    """``model.model_validate`` with every problem as one path-named ManifestError."""
    if not isinstance(doc, Mapping):
        raise ManifestError(f"expected a map at the top level, found {kind_name(doc)}", source=source)
    try:
        return model.model_validate(doc)
    except ValidationError as failure:
        errors = [_translate(error, doc, source) for error in failure.errors(include_url=False)]
        raise ManifestError.collect(errors) from None


# -- helpers -----------------------------------------------------------------------------

def labels(names: Sequence[str]) -> list[str]:
    """Path steps for top-level items (the rule of ``errors.item_label``): the name when it
    is unique, else the index."""
    counts = Counter(names)
    return [name if counts[name] == 1 and name and "/" not in name else str(index)
            for index, name in enumerate(names)]


def _defined(names: Iterable[str]) -> str:
    names = sorted(set(names))
    return "'" + "', '".join(names) + "'" if names else "none"


class _Report:
    """Collects problems; raises them together."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.errors: list[ManifestError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(ManifestError(message, path=path, source=self.source))

    def duplicates(self, section: str, names: Sequence[str], what: str, key: str = "name") -> None:
        steps = labels(names)
        seen: set[str] = set()
        for step, name in zip(steps, names):
            if name in seen:
                self.add(join_path(section, step, key), f"duplicate {what} '{name}'")
            seen.add(name)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ManifestError.collect(self.errors)


# -- deployment manifest -----------------------------------------------------------------

def _check_jobs(report: _Report, base: str, jobs: Sequence[Job], releases: set[str]) -> None:
    seen: set[str] = set()
    for index, job in enumerate(jobs):
        if job.name in seen:
            report.add(join_path(base, "jobs", index, "name"), f"duplicate job '{job.name}'")
        seen.add(job.name)
        if job.release not in releases:
            report.add(join_path(base, "jobs", index, "release"),
                       f"release '{job.release}' is not defined in releases (defined: {_defined(releases)})")


def _check_networks(report: _Report, base: str, group: InstanceGroup) -> None:
    if not group.networks:
        report.add(join_path(base, "networks"), "must have at least one network")
        return
    names = [network.name for network in group.networks]
    for index, name in enumerate(names):
        if name in names[:index]:
            report.add(join_path(base, "networks", index, "name"), f"duplicate network '{name}'")
    for index, network in enumerate(group.networks):
        if network.static_ips is None:
            continue
        try:
            addresses = expand_ip_entries(network.static_ips)
        except ValueError as problem:
            for ip_index, entry in enumerate(network.static_ips):
                try:
                    parse_ip_entry(entry)
                except ValueError as entry_problem:
                    report.add(join_path(base, "networks", index, "static_ips", ip_index), str(entry_problem))
                    break
            else:
                report.add(join_path(base, "networks", index, "static_ips"), str(problem))
            continue
        repeated = sorted(ip for ip, count in Counter(addresses).items() if count > 1)
        if repeated:
            report.add(join_path(base, "networks", index, "static_ips"),
                       f"static IP '{repeated[0]}' is listed more than once")
        if len(addresses) != group.instances:
            report.add(join_path(base, "networks", index, "static_ips"),
                       f"instance group has {group.instances} instance(s) but {len(addresses)} static IP(s) "
                       f"on network '{network.name}'")
    if len(group.networks) > 1:
        for role in ("dns", "gateway"):
            owners = [network.name for network in group.networks if role in (network.default or [])]
            if len(owners) != 1:
                found = f"found {len(owners)}" + (f": {', '.join(owners)}" if owners else "")
                report.add(join_path(base, "networks"),
                           f"with several networks exactly one must have '{role}' in its 'default' ({found})")


def check_deployment(manifest: DeploymentManifest, source: str | None = None) -> None:
    """Cross-references inside one manifest; raises every problem at once."""
    report = _Report(source)
    report.duplicates("releases", [r.name for r in manifest.releases], "release")
    report.duplicates("stemcells", [s.alias for s in manifest.stemcells], "stemcell alias", "alias")
    report.duplicates("instance_groups", [g.name for g in manifest.instance_groups], "instance group name")
    report.duplicates("variables", [v.name for v in manifest.variables], "variable")
    report.duplicates("addons", [a.name for a in manifest.addons], "addon")
    for step, stemcell in zip(labels([s.alias for s in manifest.stemcells]), manifest.stemcells):
        if (stemcell.os is None) == (stemcell.name is None):
            report.add(join_path("stemcells", step), "specify exactly one of 'os' and 'name'")
    for step, variable in zip(labels([v.name for v in manifest.variables]), manifest.variables):
        if variable.type not in VARIABLE_TYPES:
            report.add(join_path("variables", step, "type"),
                       f"unknown variable type '{variable.type}' (expected one of: {', '.join(VARIABLE_TYPES)})")
    releases = {release.name for release in manifest.releases}
    aliases = {stemcell.alias for stemcell in manifest.stemcells}
    for step, addon in zip(labels([a.name for a in manifest.addons]), manifest.addons):
        _check_jobs(report, join_path("addons", step), addon.jobs, releases)
    for step, group in zip(labels([g.name for g in manifest.instance_groups]), manifest.instance_groups):
        base = join_path("instance_groups", step)
        if group.stemcell not in aliases:
            report.add(join_path(base, "stemcell"),
                       f"stemcell alias '{group.stemcell}' is not defined in stemcells (defined: {_defined(aliases)})")
        if group.persistent_disk is not None and group.persistent_disk_type is not None:
            report.add(base, "specify only one of 'persistent_disk' and 'persistent_disk_type'")
        if group.azs is not None:
            if not group.azs:
                report.add(join_path(base, "azs"), "must have at least one az")
            for index, az in enumerate(group.azs):
                if az in group.azs[:index]:
                    report.add(join_path(base, "azs", index), f"duplicate az '{az}'")
        _check_jobs(report, base, group.jobs, releases)
        _check_networks(report, base, group)
    report.raise_if_any()


def parse_deployment(doc: Any, source: str | None = None) -> DeploymentManifest:
    """An interpolated manifest document → validated :class:`DeploymentManifest`."""
    manifest = model_from(DeploymentManifest, doc, source)
    check_deployment(manifest, source)
    return manifest


# -- cloud-config -------------------------------------------------------------------------

def _check_subnet(report: _Report, base: str, subnet: ManualSubnet, azs: set[str]) -> None:
    try:
        network = ipaddress.ip_network(subnet.range.strip(), strict=False)
    except ValueError:
        report.add(join_path(base, "range"), f"'{subnet.range}' is not a CIDR range like 10.0.0.0/24")
        return
    gateway_int: int | None = None
    try:
        gateway = parse_ip(subnet.gateway)
    except ValueError as problem:
        report.add(join_path(base, "gateway"), str(problem))
    else:
        gateway_int = int(gateway)
        if gateway.version != network.version or gateway not in network:
            report.add(join_path(base, "gateway"), f"gateway '{subnet.gateway}' is outside the subnet range {network}")
        elif gateway in (network.network_address, network.broadcast_address):
            report.add(join_path(base, "gateway"), f"gateway '{subnet.gateway}' cannot be the network or broadcast address")
    pools: dict[str, list[tuple[int, int]]] = {}
    for key in ("reserved", "static"):
        pools[key] = []
        for index, entry in enumerate(getattr(subnet, key)):
            try:
                low, high = parse_ip_entry(entry)
            except ValueError as problem:
                report.add(join_path(base, key, index), str(problem))
                continue
            first, last = int(network.network_address), int(network.broadcast_address)
            if low < first or high > last:
                report.add(join_path(base, key, index), f"'{entry}' is outside the subnet range {network}")
            pools[key].append((low, high))
    for index, entry in enumerate(subnet.static):
        try:
            low, high = parse_ip_entry(entry)
        except ValueError:
            continue
        if any(low <= r_high and r_low <= high for r_low, r_high in pools["reserved"]):
            report.add(join_path(base, "static", index), f"'{entry}' overlaps a reserved range")
        if gateway_int is not None and low <= gateway_int <= high:
            report.add(join_path(base, "static", index), f"'{entry}' includes the gateway")
    if subnet.az is not None and subnet.azs is not None:
        report.add(base, "specify only one of 'az' and 'azs'")
    for step, az in ([("az", subnet.az)] if subnet.az else []) + [(f"azs/{i}", a) for i, a in enumerate(subnet.azs or [])]:
        if az not in azs:
            report.add(join_path(base, step), f"az '{az}' is not defined in azs (defined: {_defined(azs)})")


def check_cloud_config(cloud: CloudConfig, source: str | None = None) -> None:
    """Cross-references inside one cloud-config; raises every problem at once."""
    report = _Report(source)
    for section, items in (("azs", cloud.azs), ("networks", cloud.networks), ("vm_types", cloud.vm_types),
                           ("vm_extensions", cloud.vm_extensions), ("disk_types", cloud.disk_types)):
        report.duplicates(section, [item.name for item in items], section.rstrip("s").replace("_", " "))
    azs = {az.name for az in cloud.azs}
    for step, network in zip(labels([n.name for n in cloud.networks]), cloud.networks):
        for index, subnet in enumerate(network.subnets or []):
            base = join_path("networks", step, "subnets", index)
            if isinstance(subnet, ManualSubnet):
                _check_subnet(report, base, subnet, azs)
            else:
                for az_step, az in ([("az", subnet.az)] if subnet.az else []) + [
                        (f"azs/{i}", a) for i, a in enumerate(subnet.azs or [])]:
                    if az not in azs:
                        report.add(join_path(base, az_step), f"az '{az}' is not defined in azs (defined: {_defined(azs)})")
    compilation = cloud.compilation
    if compilation is not None:
        if cloud.network(compilation.network) is None:
            report.add("compilation/network", f"network '{compilation.network}' is not defined in networks "
                       f"(defined: {_defined(n.name for n in cloud.networks)})")
        if compilation.az is not None and compilation.az not in azs:
            report.add("compilation/az", f"az '{compilation.az}' is not defined in azs (defined: {_defined(azs)})")
        if compilation.az is None and azs:
            report.add("compilation", "missing required key 'az'")
        vm_types = {vm_type.name for vm_type in cloud.vm_types}
        if compilation.vm_type is not None and compilation.vm_type not in vm_types:
            report.add("compilation/vm_type", f"vm_type '{compilation.vm_type}' is not defined in vm_types "
                       f"(defined: {_defined(vm_types)})")
        if (compilation.vm_type is None) == (compilation.cloud_properties is None):
            report.add("compilation", "specify exactly one of 'vm_type' and 'cloud_properties'")
    report.raise_if_any()


def parse_cloud_config(doc: Any, source: str | None = None) -> CloudConfig:
    """A cloud-config document → validated :class:`CloudConfig`."""
    cloud = model_from(CloudConfig, doc, source)
    check_cloud_config(cloud, source)
    return cloud


# -- manifest against cloud-config -----------------------------------------------------------

def _check_reference(report: _Report, path: str, kind: str, name: str | None, defined: set[str]) -> None:
    if name is not None and name not in defined:
        report.add(path, f"{kind} '{name}' is not defined in the cloud-config (defined: {_defined(defined)})")


def check_against_cloud_config(
    manifest: DeploymentManifest, cloud: CloudConfig, source: str | None = None
) -> None:
    """Everything the manifest names must exist in the cloud-config, static IPs must sit in
    a static range of a subnet in the group's azs, and each manual network must have enough
    dynamic addresses for the instances that need one. Errors carry the manifest's paths.
    """
    report = _Report(source)
    azs = {az.name for az in cloud.azs}
    vm_types = {vm_type.name for vm_type in cloud.vm_types}
    extensions = {extension.name for extension in cloud.vm_extensions}
    disk_types = {disk_type.name for disk_type in cloud.disk_types}
    networks = {network.name for network in cloud.networks}
    demand: dict[str, list[DynamicDemand]] = {}
    for step, group in zip(labels([g.name for g in manifest.instance_groups]), manifest.instance_groups):
        base = join_path("instance_groups", step)
        _check_reference(report, join_path(base, "vm_type"), "vm_type", group.vm_type, vm_types)
        for index, extension in enumerate(group.vm_extensions):
            _check_reference(report, join_path(base, "vm_extensions", index), "vm_extension", extension, extensions)
        _check_reference(report, join_path(base, "persistent_disk_type"), "disk_type",
                         group.persistent_disk_type, disk_types)
        if group.azs is None and azs:
            report.add(base, "missing required key 'azs' (the cloud-config defines availability zones)")
        for index, az in enumerate(group.azs or []):
            _check_reference(report, join_path(base, "azs", index), "az", az, azs)
        group_azs = set(group.azs or [])
        for index, ref in enumerate(group.networks):
            ref_path = join_path(base, "networks", index)
            network = cloud.network(ref.name)
            if network is None:
                _check_reference(report, join_path(ref_path, "name"), "network", ref.name, networks)
                continue
            if isinstance(network, DynamicNetwork) and ref.static_ips:
                report.add(join_path(ref_path, "static_ips"), f"network '{ref.name}' is dynamic and cannot have static IPs")
            if not isinstance(network, ManualNetwork):
                continue
            try:
                subnets = [SubnetIPs.from_subnet(subnet) for subnet in network.subnets]
            except ValueError:
                continue  # reported by parse_cloud_config
            covered = {az for subnet in subnets for az in subnet.azs}
            for az in sorted(group_azs - covered):
                report.add(join_path(ref_path, "name"), f"network '{ref.name}' has no subnet in az '{az}'")
            usable = [s for s in subnets if not group_azs or not s.azs or group_azs & set(s.azs)]
            if ref.static_ips:
                try:
                    addresses = expand_ip_entries(ref.static_ips)
                except ValueError:
                    continue  # reported by parse_deployment
                for address in addresses:
                    home = next((s for s in usable if s.contains(address)), None)
                    if home is None:
                        report.add(join_path(ref_path, "static_ips"),
                                   f"static IP '{address}' is outside every subnet of network '{ref.name}'"
                                   + (f" in azs {', '.join(sorted(group_azs))}" if group_azs else ""))
                    elif not home.is_static(address):
                        report.add(join_path(ref_path, "static_ips"),
                                   f"static IP '{address}' is not in a static range of network '{ref.name}'")
            else:
                demand.setdefault(ref.name, []).append(
                    DynamicDemand(group.name, join_path(ref_path, "name"), group.instances, tuple(group.azs or ())))
    for network_name, users in demand.items():
        network = cloud.network(network_name)
        try:
            subnet_ips = [SubnetIPs.from_subnet(s) for s in network.subnets]  # type: ignore[union-attr]
        except ValueError:
            continue
        capacity = sum(s.dynamic_capacity() for s in subnet_ips)
        needed = 0
        for position, user in enumerate(users):
            needed += user.instances
            if needed > capacity:
                names = ", ".join(u.group for u in users[: position + 1])
                report.add(user.path, f"network '{network_name}' has {capacity} dynamic IP(s) for {needed} "
                                      f"instance(s) (instance groups: {names})")
                break
        else:  # enough in all: then AZ by AZ, as the planner spreads instances (ip_capacity.py)
            shortfall = first_shortfall(subnet_ips, users)
            if shortfall is not None:
                report.add(shortfall.path, shortfall.message(network_name))
    report.raise_if_any()
