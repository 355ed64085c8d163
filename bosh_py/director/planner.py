"""From a validated manifest and cloud-config to the desired state of every instance.

The planner only decides; it changes nothing. Instances keep their identity (uuid, IP, AZ,
disk) across deploys by (group, index), so a redeploy touches only what really changed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bosh_py.director.changes import vm_spec
from bosh_py.director.compiler import StemcellRef
from bosh_py.director.ip_allocation import IpAllocationError, IpAllocator, Subnet, serving_az, subnets_of
from bosh_py.director.models import DEFAULT_CPI, Instance, Release, ReleaseVersion, Stemcell
from bosh_py.director.update_config import UpdateConfig, resolve_update
from bosh_py.manifest.network import expand_ip_entries
from bosh_py.errors import BoshPyError


class PlanError(BoshPyError):
    pass


@dataclass
class JobPlan:
    name: str
    release: str
    properties: dict
    consumes: dict
    provides: dict


@dataclass
class InstancePlan:
    group: str
    index: int
    uuid: str
    az: str | None
    bootstrap: bool
    networks: dict  # CPI/agent network settings by network name
    ip: str
    existing_id: int | None
    cloud_properties: dict
    vm_digest: str
    state: str = "started"
    cpi: str = DEFAULT_CPI  # the CPI of the instance's AZ: it makes the VM
    stemcell_cid: str = ""  # the group's stemcell in that CPI
    vm_spec: dict = field(default_factory=dict)  # the facts vm_digest hashes, recorded with the VM (changes.py)
    static_ip: bool = False  # one of its networks gives it a static IP (create-swap-delete cannot apply)
    swap: bool = False  # create-swap-delete: a new VM on new addresses is made beside the running one

    @property
    def name(self) -> str:
        return f"{self.group}/{self.uuid}"


@dataclass
class GroupPlan:
    name: str
    jobs: list[JobPlan]
    instances: list[InstancePlan]
    stemcell: StemcellRef
    env: dict
    persistent_disk: int
    disk_cloud_properties: dict
    update: UpdateConfig
    lifecycle: str


@dataclass
class DeploymentPlan:
    name: str
    groups: list[GroupPlan]
    releases: dict[str, ReleaseVersion]
    obsolete_instance_ids: list[int]
    compilation: dict
    compilation_subnet: Subnet
    ip_allocator: IpAllocator
    compilation_cpi: str = DEFAULT_CPI
    compilation_subnets: list[Subnet] = field(default_factory=list)  # every subnet serving the compilation az

    def next_compilation_address(self) -> tuple[Subnet, str]:
        return self.ip_allocator.next_dynamic_in(self.compilation_subnets or [self.compilation_subnet],
                                                 self.compilation.get("az"), "cloud-config/compilation")


def _by_name(items: list[dict] | None, kind: str) -> dict[str, dict]:
    return {item["name"]: item for item in items or []}


def resolve_releases(session: Session, manifest: dict) -> dict[str, ReleaseVersion]:
    found: dict[str, ReleaseVersion] = {}
    for position, entry in enumerate(manifest.get("releases") or []):
        release = session.scalars(select(Release).where(Release.name == entry["name"])).first()
        versions = list(release.versions) if release else []
        if not versions:
            raise PlanError(f"releases/{entry['name']}: release '{entry['name']}' has not been uploaded "
                            f"(`bosh-py upload-release`)")
        wanted = str(entry.get("version", "latest"))
        if wanted == "latest":
            chosen = max(versions, key=lambda v: v.id)
        else:
            chosen = next((v for v in versions if v.version == wanted), None)
            if chosen is None:
                have = ", ".join(sorted(v.version for v in versions))
                raise PlanError(f"releases/{entry['name']}/version: release '{entry['name']}' has no version "
                                f"'{wanted}' (uploaded: {have})")
        found[entry["name"]] = chosen
    return found


def resolve_stemcell(session: Session, manifest: dict, alias: str, where: str) -> StemcellRef:
    entry = next((s for s in manifest.get("stemcells") or [] if s.get("alias") == alias), None)
    if entry is None:
        raise PlanError(f"{where}: stemcell alias '{alias}' is not defined in stemcells")
    query = select(Stemcell)
    if entry.get("os"):
        query = query.where(Stemcell.operating_system == entry["os"])
    if entry.get("name"):
        query = query.where(Stemcell.name == entry["name"])
    candidates = list(session.scalars(query))
    wanted = str(entry.get("version", "latest"))
    if wanted != "latest":
        candidates = [c for c in candidates if c.version == wanted]
    if not candidates:
        what = entry.get("os") or entry.get("name")
        raise PlanError(f"stemcells/{alias}: no uploaded stemcell matches {what} version '{wanted}' "
                        f"(`bosh-py upload-stemcell`)")
    # One row per CPI copy. Named by `os`, a stemcell version may be a different stemcell in
    # each CPI (a local rootfs, an AWS light stemcell), as BOSH matches them; named by `name`,
    # it is that stemcell. "latest" is the version uploaded last, not the last copy made.
    def key_of(row: Stemcell) -> tuple[str, str]:
        return (row.name if entry.get("name") else row.operating_system, row.version)

    first_upload: dict[tuple[str, str], int] = {}
    for row in candidates:
        first_upload[key_of(row)] = min(first_upload.get(key_of(row), row.id), row.id)
    chosen = max(first_upload, key=lambda key: first_upload[key])
    newest_per_cpi: dict[str, Stemcell] = {}
    for row in sorted((r for r in candidates if key_of(r) == chosen), key=lambda r: r.id):
        newest_per_cpi[row.cpi] = row
    copies = list(newest_per_cpi.values())
    first = min(copies, key=lambda r: r.id)
    return StemcellRef(first.name, first.operating_system, first.version,
                       tuple(sorted((c.cpi, c.cid) for c in copies)))


def stemcell_cid_in(stemcell: StemcellRef, cpi: str, where: str) -> str:
    """The stemcell's copy in ``cpi``; a CPI without one fails the plan, before any VM exists."""
    cid = stemcell.cid_in(cpi)
    if cid is None:
        held = ", ".join(f"'{name}'" for name, _ in stemcell.cids) or "none"
        raise PlanError(f"{where}: CPI '{cpi}' has no copy of stemcell '{stemcell.name}/{stemcell.version}' "
                        f"(CPIs holding it: {held}); `bosh-py upload-stemcell` puts it in every CPI "
                        f"whose stemcell formats accept it")
    return cid


def cpi_of_az(azs: dict[str, dict], az: str | None) -> str:
    """The CPI an AZ names in the cloud-config, else the director's own."""
    return (azs.get(az) or {}).get("cpi") or DEFAULT_CPI if az else DEFAULT_CPI


def vm_digest(stemcell_cid: str, cloud_properties: dict, networks: dict, env: dict,
              cpi: str = DEFAULT_CPI) -> str:
    """What, when it changes, means the VM itself must be recreated (the CPI only when it is
    not the director's own, so VMs made before cpi-configs existed keep their digest)."""
    parts: list = [stemcell_cid, cloud_properties, networks, env] + ([cpi] if cpi != DEFAULT_CPI else [])
    payload = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def readdress(allocator: IpAllocator, cloud_config: dict, group: GroupPlan, instance: InstancePlan) -> bool:
    """Give ``instance`` new dynamic addresses on each of its networks (create-swap-delete:
    the new VM runs beside the old one, which keeps its addresses until it is deleted), and
    the VM facts that follow from them. False, and nothing changed, when a subnet of its AZ
    has no spare address: the instance is then replaced in place (delete-create)."""
    where = f"instance_groups/{group.name}/networks"
    taken: list[str] = []
    settings: dict = {}
    try:
        for name, current in instance.networks.items():
            subnet, ip = allocator.next_dynamic_in(subnets_of(cloud_config, name, where), instance.az, where)
            taken.append(ip)
            settings[name] = subnet.settings(ip, default="default" in current)
    except IpAllocationError:
        for ip in taken:
            allocator.release(ip)
        return False
    instance.networks = settings
    instance.ip = next(s["ip"] for s in settings.values())
    instance.vm_digest = vm_digest(instance.stemcell_cid, instance.cloud_properties, settings, group.env, instance.cpi)
    instance.vm_spec = vm_spec(instance.stemcell_cid, instance.cloud_properties, settings, group.env, instance.cpi)
    instance.swap = True
    return True


def plan_deployment(session: Session, manifest: dict, cloud_config: dict, existing: list[Instance],
                    used_ips: set[str], errands: bool = False) -> DeploymentPlan:
    """``errands``: plan the instances of ``lifecycle: errand`` groups too (run-errand).
    A deploy plans them without instances, so they get no VMs, while their jobs are still
    validated, linked and compiled; a kept-alive errand VM's IP stays reserved until the
    deploy deletes it. Service groups claim their IPs first, so an errand group listed
    before them never takes an address a service instance holds."""
    allocator = IpAllocator()
    allocator.used.update(used_ips)
    manifest_groups = list(manifest.get("instance_groups") or [])
    if not errands:
        errand_groups = {g["name"] for g in manifest_groups if g.get("lifecycle") == "errand"}
        allocator.used.update(i.ip for i in existing if i.group in errand_groups and i.ip)
    releases = resolve_releases(session, manifest)
    vm_types = _by_name(cloud_config.get("vm_types"), "vm_type")
    azs = _by_name(cloud_config.get("azs"), "az")
    disk_types = _by_name(cloud_config.get("disk_types"), "disk_type")
    by_slot = {(i.group, i.index): i for i in existing}
    wanted_slots: set[tuple[str, int]] = set()
    groups: list[GroupPlan] = []

    for group in sorted(manifest_groups, key=lambda g: g.get("lifecycle") == "errand"):
        gname = group["name"]
        where = f"instance_groups/{gname}"
        jobs = []
        for position, job in enumerate(group.get("jobs") or []):
            if job["release"] not in releases:
                raise PlanError(f"{where}/jobs/{position}/release: release '{job['release']}' is not listed in releases")
            release_jobs = {j["name"] for j in releases[job["release"]].manifest.get("jobs", [])}
            if job["name"] not in release_jobs:
                raise PlanError(f"{where}/jobs/{position}/name: job '{job['name']}' is not in release "
                                f"'{job['release']}' (jobs: {', '.join(sorted(release_jobs))})")
            properties = job.get("properties")
            if properties is None:
                properties = group.get("properties") or manifest.get("properties") or {}
            jobs.append(JobPlan(job["name"], job["release"], properties, job.get("consumes") or {},
                                job.get("provides") or {}))
        vm_type = vm_types.get(group.get("vm_type", ""))
        if vm_type is None:
            raise PlanError(f"{where}/vm_type: vm_type '{group.get('vm_type')}' is not in the cloud-config")
        stemcell = resolve_stemcell(session, manifest, group.get("stemcell", ""), f"{where}/stemcell")
        disk_size = int(group.get("persistent_disk") or 0)
        disk_cloud_properties: dict = {}
        if group.get("persistent_disk_type"):
            disk_type = disk_types.get(group["persistent_disk_type"])
            if disk_type is None:
                raise PlanError(f"{where}/persistent_disk_type: disk type '{group['persistent_disk_type']}' "
                                f"is not in the cloud-config")
            disk_size = int(disk_type["disk_size"])
            disk_cloud_properties = dict(disk_type.get("cloud_properties") or {})
        group_azs = list(group.get("azs") or [None])
        for az in group_azs:
            if az is not None and az not in azs:
                raise PlanError(f"{where}/azs: az '{az}' is not in the cloud-config")
        count = int(group.get("instances", 0)) if errands or group.get("lifecycle") != "errand" else 0
        networks = group.get("networks") or []
        if not networks:
            raise PlanError(f"{where}/networks: at least one network is required")
        instances: list[InstancePlan] = []
        group_plan = GroupPlan(gname, jobs, instances, stemcell, dict(group.get("env") or {}),
                               disk_size, disk_cloud_properties,
                               resolve_update(manifest.get("update") or {}, group.get("update"), count),
                               group.get("lifecycle", "service"))
        for index in range(count):
            current = by_slot.get((gname, index))
            az = current.az if current and current.az in group_azs else group_azs[index % len(group_azs)]
            settings: dict = {}
            primary_ip = ""
            static = False
            for net_position, net in enumerate(networks):
                net_where = f"{where}/networks/{net_position}"
                subnets = subnets_of(cloud_config, net["name"], net_where)
                static_ips = expand_ip_entries(net.get("static_ips") or [])
                if static_ips and len(static_ips) < count:
                    raise PlanError(f"{net_where}/static_ips: {count} instances need {count} static IPs, "
                                    f"got {len(static_ips)}")
                subnet, ip = allocator.address_for(
                    subnets, az, static_ips[index] if static_ips else None, current.ip if current else None,
                    f"{net_where}/static_ips/{index}" if static_ips else net_where)
                settings[net["name"]] = subnet.settings(ip, default=net_position == 0)
                primary_ip = primary_ip or ip
                static = static or bool(static_ips)
            cloud_properties = {**(azs.get(az, {}).get("cloud_properties") or {} if az else {}),
                                **(vm_type.get("cloud_properties") or {})}
            cpi = cpi_of_az(azs, az)
            stemcell_cid = stemcell_cid_in(stemcell, cpi, f"{where}/azs/{group_azs.index(az)}" if az else where)
            instances.append(InstancePlan(
                gname, index, current.uuid if current else str(uuid.uuid4()), az, index == 0, settings,
                primary_ip, current.id if current else None, cloud_properties,
                vm_digest(stemcell_cid, cloud_properties, settings, group_plan.env, cpi),
                current.state if current else "started", cpi, stemcell_cid,
                vm_spec(stemcell_cid, cloud_properties, settings, group_plan.env, cpi), static))
            wanted_slots.add((gname, index))
        groups.append(group_plan)

    order = [g["name"] for g in manifest_groups]
    groups.sort(key=lambda g: order.index(g.name))  # the manifest's order: groups update in it
    obsolete = [i.id for i in existing if (i.group, i.index) not in wanted_slots]
    compilation = dict(cloud_config.get("compilation") or {})
    if not compilation:
        raise PlanError("cloud-config/compilation: a compilation block (workers, network, vm_type) is required")
    compilation_subnets = serving_az(
        subnets_of(cloud_config, compilation.get("network", ""), "cloud-config/compilation/network"),
        compilation.get("az"), "cloud-config/compilation")
    compilation_cpi = cpi_of_az(azs, compilation.get("az"))
    compilation["cloud_properties"] = {
        **(azs.get(compilation.get("az"), {}).get("cloud_properties") or {} if compilation.get("az") else {}),
        **((vm_types.get(compilation.get("vm_type", "")) or {}).get("cloud_properties") or {}),
        **(compilation.get("cloud_properties") or {}),
    }
    return DeploymentPlan(manifest["name"], groups, releases, obsolete, compilation, compilation_subnets[0], allocator,
                          compilation_cpi, compilation_subnets)
