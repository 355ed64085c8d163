"""Pydantic models of the deployment manifest and the cloud-config: the shape only.

Every model forbids unknown keys (a typo like ``instaces`` must fail, not be ignored) and
is strict (``instances: "3"`` is an error, as in the BOSH director). Checks that span
several keys or both documents live in ``validate.py``, where they get precise paths.
Use ``validate.parse_deployment`` / ``validate.parse_cloud_config`` rather than
``model_validate`` so errors come out as :class:`ManifestError`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PlainValidator, Tag

from bosh_py.manifest.load import kind_name

VARIABLE_TYPES = ("certificate", "password", "rsa", "ssh")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# -- scalar types with BOSH's rules; messages become "<path>: <message>" -------------------

Name = Annotated[str, Field(strict=True, min_length=1)]
Int = Annotated[int, Field(strict=True)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
Bool = Annotated[bool, Field(strict=True)]
Map = dict[Any, Any]


def _version(value: Any) -> str:
    """Release and stemcell versions are strings, but YAML reads ``version: 3`` as a number."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected string or number, found {kind_name(value)}")
    if isinstance(value, str) and not value:
        raise ValueError("must not be empty")
    return str(value)


Version = Annotated[str, PlainValidator(_version)]

_PERCENT = re.compile(r"\s*(\d+)\s*%\s*")


def _count_or_percent(minimum: int, what: str) -> PlainValidator:
    def check(value: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"expected integer or percentage like '25%', found {kind_name(value)}")
        if isinstance(value, int):
            if value < minimum:
                raise ValueError(f"{what} must be at least {minimum}")
            return value
        match = _PERCENT.fullmatch(value)
        if not match:
            raise ValueError(f"expected integer or percentage like '25%', found '{value}'")
        percent = int(match.group(1))
        if not max(minimum, 0) <= percent <= 100 or (minimum > 0 and percent == 0):
            raise ValueError(f"{what} percentage must be between {max(minimum, 0)}% and 100%")
        return f"{percent}%"

    return PlainValidator(check)


Canaries = Annotated[int | str, _count_or_percent(0, "canaries")]
MaxInFlight = Annotated[int | str, _count_or_percent(1, "max_in_flight")]


def _watch_time(value: Any) -> int | str:
    """Milliseconds: ``1000``, ``"1000"`` or ``"1000-30000"`` (sleep low, give up at high)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected milliseconds or a range like '1000-30000', found {kind_name(value)}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be at least 0")
        return value
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", value)
    if not match:
        raise ValueError(f"expected milliseconds or a range like '1000-30000', found '{value}'")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if low > high:
        raise ValueError(f"range start {low} is greater than its end {high}")
    return f"{low}-{high}" if match.group(2) else str(low)


WatchTime = Annotated[int | str, PlainValidator(_watch_time)]


# -- deployment manifest ----------------------------------------------------------------

class ReleaseStemcell(Model):
    os: Name
    version: Version


class Release(Model):
    name: Name
    version: Version
    url: str | None = None
    sha1: str | None = None
    stemcell: ReleaseStemcell | None = None


class Stemcell(Model):
    alias: Name
    os: Name | None = None
    name: Name | None = None
    version: Version


class InstanceGroupUpdate(Model):
    """Per-instance-group ``update``: any key overrides the deployment's."""

    canaries: Canaries | None = None
    max_in_flight: MaxInFlight | None = None
    canary_watch_time: WatchTime | None = None
    update_watch_time: WatchTime | None = None
    serial: Bool | None = None
    vm_strategy: Literal["delete-create", "create-swap-delete"] | None = None


class UpdateConfig(InstanceGroupUpdate):
    """The deployment's ``update``: BOSH requires these four here."""

    canaries: Canaries
    max_in_flight: MaxInFlight
    canary_watch_time: WatchTime
    update_watch_time: WatchTime


class CustomProvider(Model):
    name: Name
    type: Name
    properties: list[str] = []


class Job(Model):
    name: Name
    release: Name
    properties: Map | None = None
    consumes: Map | None = None
    provides: Map | None = None
    custom_provider_definitions: list[CustomProvider] | None = None


class NetworkRef(Model):
    name: Name
    static_ips: list[str] | None = None
    default: list[Literal["dns", "gateway"]] | None = None


class MigratedFrom(Model):
    name: Name
    az: Name | None = None


class InstanceGroup(Model):
    name: Name
    azs: list[Name] | None = None
    instances: NonNegativeInt
    jobs: list[Job]
    vm_type: Name
    vm_extensions: list[Name] = []
    stemcell: Name
    persistent_disk: NonNegativeInt | None = None
    persistent_disk_type: Name | None = None
    networks: list[NetworkRef]
    update: InstanceGroupUpdate | None = None
    lifecycle: Literal["service", "errand"] = "service"
    migrated_from: list[MigratedFrom] = []
    env: Map = {}
    properties: Map | None = None


class VariableDefinition(Model):
    name: Name
    type: Name
    options: Map | None = None
    consumes: Map | None = None
    update_mode: Literal["converge", "no-overwrite"] | None = None


class Features(Model):
    use_dns_addresses: Bool | None = None
    use_short_dns_addresses: Bool | None = None
    use_link_dns_names: Bool | None = None
    randomize_az_placement: Bool | None = None
    converge_variables: Bool | None = None
    use_tmpfs_config: Bool | None = None


class AddonJobRef(Model):
    name: Name
    release: Name


class AddonStemcellRef(Model):
    os: Name


class PlacementRules(Model):
    """An addon's ``include`` or ``exclude`` (BOSH's placement rules): every key given must
    match (AND); within one key, any listed value may (OR)."""

    deployments: list[Name] = []
    instance_groups: list[Name] = []
    jobs: list[AddonJobRef] = []
    stemcell: list[AddonStemcellRef] = []
    azs: list[Name] = []
    networks: list[Name] = []
    lifecycle: Literal["service", "errand"] | None = None


class Addon(Model):
    name: Name
    jobs: list[Job]
    include: PlacementRules | None = None
    exclude: PlacementRules | None = None


class DeploymentManifest(Model):
    name: Name
    director_uuid: Any = None  # accepted and ignored, as by BOSH v2
    releases: list[Release] = []
    stemcells: list[Stemcell] = []
    update: UpdateConfig
    instance_groups: list[InstanceGroup] = []
    variables: list[VariableDefinition] = []
    features: Features | None = None
    tags: Map = {}
    addons: list[Addon] = []

    def instance_group(self, name: str) -> InstanceGroup | None:
        return next((group for group in self.instance_groups if group.name == name), None)


# -- cloud-config -----------------------------------------------------------------------

class AvailabilityZone(Model):
    name: Name
    cloud_properties: Map = {}
    cpi: Name | None = None


class VmType(Model):
    name: Name
    cloud_properties: Map = {}


class VmExtension(Model):
    name: Name
    cloud_properties: Map = {}


class DiskType(Model):
    name: Name
    disk_size: Annotated[int, Field(strict=True, ge=1)]
    cloud_properties: Map = {}


class ManualSubnet(Model):
    range: Name
    gateway: Name
    dns: list[str] = []
    reserved: list[str] = []
    static: list[str] = []
    az: Name | None = None
    azs: list[Name] | None = None
    cloud_properties: Map = {}

    @property
    def all_azs(self) -> tuple[str, ...]:
        return tuple(self.azs or ([self.az] if self.az else []))


class DynamicSubnet(Model):
    dns: list[str] = []
    az: Name | None = None
    azs: list[Name] | None = None
    cloud_properties: Map = {}

    @property
    def all_azs(self) -> tuple[str, ...]:
        return tuple(self.azs or ([self.az] if self.az else []))


class VipSubnet(Model):
    static: list[str] = []
    az: Name | None = None
    azs: list[Name] | None = None
    cloud_properties: Map = {}


class ManualNetwork(Model):
    name: Name
    type: Literal["manual"] = "manual"
    subnets: Annotated[list[ManualSubnet], Field(min_length=1)]


class DynamicNetwork(Model):
    name: Name
    type: Literal["dynamic"]
    dns: list[str] | None = None
    cloud_properties: Map = {}
    subnets: list[DynamicSubnet] | None = None


class VipNetwork(Model):
    name: Name
    type: Literal["vip"]
    cloud_properties: Map = {}
    subnets: list[VipSubnet] | None = None


def _network_type(value: Any) -> str | None:
    """``type`` defaults to ``manual``, as in BOSH."""
    if isinstance(value, dict):
        kind = value.get("type", "manual")
        return kind if isinstance(kind, str) else repr(kind)
    return getattr(value, "type", None)


Network = Annotated[
    Union[
        Annotated[ManualNetwork, Tag("manual")],
        Annotated[DynamicNetwork, Tag("dynamic")],
        Annotated[VipNetwork, Tag("vip")],
    ],
    Discriminator(_network_type),
]


class Compilation(Model):
    workers: Annotated[int, Field(strict=True, ge=1)]
    network: Name
    az: Name | None = None
    vm_type: Name | None = None
    cloud_properties: Map | None = None
    reuse_compilation_vms: Bool = False
    orphan_workers: Bool = False
    env: Map = {}


class CloudConfig(Model):
    azs: list[AvailabilityZone] = []
    networks: list[Network]
    vm_types: list[VmType] = []
    vm_extensions: list[VmExtension] = []
    disk_types: list[DiskType] = []
    compilation: Compilation | None = None

    def network(self, name: str) -> ManualNetwork | DynamicNetwork | VipNetwork | None:
        return next((network for network in self.networks if network.name == name), None)


# -- runtime-config -----------------------------------------------------------------------

class RuntimeRelease(Model):
    name: Name
    version: Version
    url: str | None = None
    sha1: str | None = None


class RuntimeConfig(Model):
    """A runtime-config: releases and addons the director adds to every deployment it
    deploys (placed by each addon's rules), with the variables they need."""

    releases: list[RuntimeRelease] = []
    addons: list[Addon] = []
    variables: list[VariableDefinition] = []
    tags: Map = {}
