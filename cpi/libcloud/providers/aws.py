"""The EC2 provider: each CPI verb as EC2 calls through libcloud's EC2 driver.

The driver signs with SigV4 and parses EC2's XML; where it lacks a parameter a CPI needs
(PrivateIpAddress, volume type at create, InstanceId on DetachVolume) the call goes
through the driver's own signed connection with EC2's documented parameters, and the
answer is parsed with the driver's own parsers. Every call retries throttling with backoff.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from libcloud.compute.base import Node, StorageVolume
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider as LibcloudProvider

from cpi.libcloud import user_data
from cpi.libcloud.errors import (
    CloudError,
    DiskNotFound,
    InvalidCall,
    VMCreationFailed,
    VMNotFound,
)
from cpi.libcloud.provider import VmSpec
from cpi.libcloud.providers import aws_errors
from cpi.libcloud.providers.aws_instance_types import smallest_fitting
from cpi.libcloud.providers.common import ApiErrors, call_api, primary_network, required_setting

DEVICE_NAMES = tuple(f"/dev/sd{letter}" for letter in "fghijklmnop")
VOLUME_TYPES = ("standard", "gp2", "gp3", "io1", "io2", "st1", "sc1")
GONE_STATES = ("terminated", "shutting-down")
RUNNING_TIMEOUT = 300.0
# The user data holds the agent's settings and the VM's SSH host key: IMDSv2 only (a token
# from a PUT, which an SSRF-style GET cannot get) and a hop limit of 1 (a container on the
# VM, one hop further, gets no token). Any process on the VM itself can still read it.
IMDS_OPTIONS = {"MetadataOptions.HttpEndpoint": "enabled", "MetadataOptions.HttpTokens": "required",
                "MetadataOptions.HttpPutResponseHopLimit": "1"}
# Where the agent finds the root and ephemeral volumes (the ephemeral disk is asked for as
# /dev/sdb; the agent also tries the Xen and NVMe spellings).
EC2_DISKS = {"system": "/dev/xvda", "ephemeral": "/dev/sdb", "persistent": {}}


class Ec2Error(CloudError):
    """An EC2 error answer; ``code`` is EC2's error code (``InvalidVolume.NotFound`` …)."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"EC2: {message}")
        self.code = code


def make_driver(settings: dict[str, Any]) -> Any:
    """libcloud's EC2 driver for the configured region and, if given, endpoint.

    Region and credentials are always required: nothing defaults to some account or
    region. Without ``endpoint`` the driver uses the region's real EC2 endpoint.
    """
    key = required_setting(settings, "aws", "access_key_id")
    secret = required_setting(settings, "aws", "secret_access_key")
    region = required_setting(settings, "aws", "region")
    options: dict[str, Any] = {"region": region, "signature_version": "4"}
    if settings.get("session_token"):  # temporary credentials (STS)
        options["token"] = required_setting(settings, "aws", "session_token")
    endpoint = settings.get("endpoint")
    if endpoint is not None:
        parts = urlsplit(str(endpoint))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidCall(f"CPI config aws.endpoint {endpoint!r}: an http(s):// URL is required")
        options.update(host=parts.hostname, secure=parts.scheme == "https",
                       port=parts.port or (443 if parts.scheme == "https" else 80))
    driver_class = get_driver(LibcloudProvider.EC2)
    try:
        return driver_class(key, secret, **options)
    except ValueError as error:  # libcloud: unknown region
        raise InvalidCall(f"CPI config aws.region {region!r}: {error}") from error


def _as_ec2_error(error: Exception) -> Ec2Error | None:
    code = aws_errors.error_code(error)
    if code is None and not type(error).__module__.startswith("libcloud"):
        return None
    return Ec2Error(code, aws_errors.describe(error))


EC2_ERRORS = ApiErrors(aws_errors.is_throttled, aws_errors.is_credentials, aws_errors.describe, _as_ec2_error,
                       "aws.access_key_id / aws.secret_access_key")


class Ec2Provider:
    stemcell_formats = ("aws-light",)

    def __init__(self, settings: dict[str, Any], log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.driver = make_driver(settings)
        self.region: str = settings["region"]
        self.endpoint = settings.get("endpoint") or f"EC2 {self.region}"
        self.default_key_name: str | None = settings.get("default_key_name")
        self.default_security_groups: list[str] = list(settings.get("default_security_groups") or [])
        self.log = log
        self.sleep = sleep

    # --- the one way to EC2 --------------------------------------------------------------

    def _call(self, action: Callable[[], Any]) -> Any:
        """Run one driver call with throttling retried; EC2 errors become ``Ec2Error``."""
        return call_api(action, EC2_ERRORS, f"EC2 at {self.endpoint}", self.log, self.sleep)

    def _request(self, params: dict[str, Any]) -> Any:
        return self._call(lambda: self.driver.connection.request(self.driver.path,
                                                                 params=dict(params)).object)

    # --- lookups -------------------------------------------------------------------------

    def _instance(self, vm_cid: str) -> Node:
        try:
            nodes = self._call(lambda: self.driver.list_nodes(ex_node_ids=[vm_cid]))
        except Ec2Error as error:
            if error.code in aws_errors.INSTANCE_MISSING:
                raise VMNotFound(f"VM {vm_cid} not found") from error
            raise
        live = [n for n in nodes if n.extra.get("status") not in GONE_STATES]
        if not live:
            raise VMNotFound(f"VM {vm_cid} not found")
        return live[0]

    def _volume(self, disk_cid: str) -> StorageVolume:
        try:
            found = self._call(lambda: self.driver.list_volumes(
                ex_filters={"volume-id": disk_cid}))
        except Ec2Error as error:
            if error.code in aws_errors.VOLUME_MISSING:
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise
        found = [v for v in found if v.id == disk_cid and v.extra.get("state") != "deleted"]
        if not found:
            raise DiskNotFound(f"disk {disk_cid} not found")
        return found[0]

    def _tag(self, resource: Any, tags: dict[str, Any]) -> None:
        if tags:
            self._call(lambda: self.driver.ex_create_tags(
                resource, {str(k): str(v) for k, v in tags.items()}))

    # --- stemcells -----------------------------------------------------------------------

    def create_stemcell(self, cloud_properties: dict[str, Any]) -> str:
        """A light stemcell names an existing AMI per region; check it is there."""
        ami = cloud_properties.get("ami_id", cloud_properties.get("ami"))
        if isinstance(ami, dict):
            ami = ami.get(self.region)
        if not isinstance(ami, str) or not ami:
            raise CloudError(f"light stemcell: cloud_properties.ami_id has no AMI for region "
                             f"{self.region}")
        try:
            self._call(lambda: self.driver.get_image(ami))
        except Ec2Error as error:
            raise CloudError(f"light stemcell AMI {ami} is not available in {self.region}: "
                             f"{error}") from error
        return ami

    def delete_stemcell(self, stemcell_cid: str) -> None:
        self.log(f"light stemcell {stemcell_cid}: the AMI is the operator's, left in place")

    # --- VMs -----------------------------------------------------------------------------

    def create_vm(self, spec: VmSpec) -> tuple[str, dict[str, Any]]:
        params = self._run_instances_params(spec)
        try:
            answer = self._request(params)
        except Ec2Error as error:
            retry = error.code in aws_errors.CAPACITY or error.code in aws_errors.THROTTLING
            raise VMCreationFailed(f"create_vm for agent {spec.agent_id}: {error}",
                                   ok_to_retry=retry) from error
        nodes = self.driver._to_nodes(answer, "instancesSet/item")  # the driver's own parser
        if len(nodes) != 1:
            raise VMCreationFailed(f"create_vm: EC2 answered {len(nodes)} instances, not 1")
        vm_cid = nodes[0].id
        try:
            node = self._wait_running(vm_cid)
            return vm_cid, self._networks_with_ips(spec.networks, node)
        except Exception as error:
            self.log(f"create_vm: {vm_cid} did not come up; terminating it")
            cleanup = "deleted it"
            try:
                self._call(lambda: self.driver.destroy_node(
                    Node(vm_cid, "", None, [], [], self.driver)))
            except CloudError as failure:
                cleanup = f"and could not delete it, delete it by hand: {failure}"
            raise VMCreationFailed(f"create_vm: instance {vm_cid} failed to start, "
                                   f"{cleanup}: {error}") from error

    def _run_instances_params(self, spec: VmSpec) -> dict[str, Any]:
        props = spec.cloud_properties
        instance_type = props.get("instance_type")
        if not isinstance(instance_type, str) or not instance_type:
            raise InvalidCall("create_vm: cloud_properties.instance_type is required")
        params: dict[str, Any] = {
            "Action": "RunInstances", "ImageId": spec.stemcell_cid, "MinCount": "1",
            "MaxCount": "1", "InstanceType": instance_type,
            "UserData": _b64(user_data.cloud_config_from(spec.user_data, disks=EC2_DISKS)), **IMDS_OPTIONS,
        }
        zone = props.get("availability_zone") or self._zone_of_disks(spec.disk_cids)
        if zone:
            params["Placement.AvailabilityZone"] = zone
        key_name = props.get("key_name") or self.default_key_name
        if key_name:
            params["KeyName"] = key_name
        network = primary_network(spec.networks)
        subnet = props.get("subnet_id") or (network.get("cloud_properties") or {}).get("subnet")
        if subnet:
            params["SubnetId"] = subnet
        if network.get("type", "manual") == "manual" and network.get("ip"):
            if not subnet:
                raise InvalidCall("create_vm: a static IP needs a subnet (cloud_properties."
                                  "subnet_id or the network's cloud_properties.subnet)")
            params["PrivateIpAddress"] = network["ip"]
        groups = list(props.get("security_groups") or self.default_security_groups)
        by_id = all(str(g).startswith("sg-") for g in groups)
        for number, group in enumerate(groups, start=1):
            params[f"SecurityGroup{'Id' if by_id else ''}.{number}"] = group
        ephemeral = props.get("ephemeral_disk") or {}
        if ephemeral:
            params["BlockDeviceMapping.1.DeviceName"] = "/dev/sdb"
            params["BlockDeviceMapping.1.Ebs.VolumeSize"] = str(
                math.ceil(int(ephemeral.get("size", 10240)) / 1024))
            params["BlockDeviceMapping.1.Ebs.VolumeType"] = ephemeral.get("type", "gp3")
            params["BlockDeviceMapping.1.Ebs.DeleteOnTermination"] = "true"
        tags = {"agent_id": spec.agent_id, "Name": f"vm-{spec.agent_id}",
                **{str(k): str(v) for k, v in (props.get("tags") or {}).items()}}
        params["TagSpecification.1.ResourceType"] = "instance"
        for number, (key, value) in enumerate(tags.items(), start=1):
            params[f"TagSpecification.1.Tag.{number}.Key"] = key
            params[f"TagSpecification.1.Tag.{number}.Value"] = value
        return params

    def _zone_of_disks(self, disk_cids: list[str]) -> str | None:
        """Disk locality: put the VM where its persistent disk already is."""
        for disk_cid in disk_cids:
            return str(self._volume(disk_cid).extra.get("zone"))
        return None

    def _wait_running(self, vm_cid: str) -> Node:
        deadline = time.monotonic() + RUNNING_TIMEOUT
        while True:
            nodes = self._call(lambda: self.driver.list_nodes(ex_node_ids=[vm_cid]))
            status = nodes[0].extra.get("status") if nodes else "missing"
            if status == "running":
                return nodes[0]
            if status in GONE_STATES or status == "missing" or time.monotonic() > deadline:
                reason = nodes[0].extra.get("reason") if nodes else ""
                raise VMCreationFailed(f"instance {vm_cid} is {status} {reason or ''}".strip())
            self.sleep(2.0)

    @staticmethod
    def _networks_with_ips(networks: dict[str, Any], node: Node) -> dict[str, Any]:
        out = {name: dict(net) for name, net in networks.items()}
        for net in out.values():
            if not net.get("ip") and node.private_ips:
                net["ip"] = node.private_ips[0]
        return out

    def delete_vm(self, vm_cid: str) -> None:
        node = self._instance(vm_cid)
        self._call(lambda: self.driver.destroy_node(node))

    def has_vm(self, vm_cid: str) -> bool:
        try:
            self._instance(vm_cid)
        except VMNotFound:
            return False
        return True

    def reboot_vm(self, vm_cid: str) -> None:
        node = self._instance(vm_cid)
        self._call(lambda: self.driver.reboot_node(node))

    def set_vm_metadata(self, vm_cid: str, metadata: dict[str, str]) -> None:
        node = self._instance(vm_cid)
        tags = dict(metadata)
        if "name" in metadata:
            tags["Name"] = metadata["name"]
        elif "job" in metadata and "index" in metadata:
            tags["Name"] = f"{metadata['job']}/{metadata['index']}"
        self._tag(node, tags)

    def calculate_vm_cloud_properties(self, requirements: dict[str, Any]) -> dict[str, Any]:
        try:
            cpu, ram = int(requirements["cpu"]), int(requirements["ram"])
            disk = int(requirements["ephemeral_disk_size"])
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidCall("calculate_vm_cloud_properties: cpu, ram (MB) and "
                              f"ephemeral_disk_size (MB) must be integers: {error}") from error
        instance_type = smallest_fitting(cpu, ram)
        if instance_type is None:
            raise CloudError(f"no EC2 instance type has {cpu} CPUs and {ram} MB of memory")
        return {"instance_type": instance_type, "ephemeral_disk": {"size": disk, "type": "gp3"}}

    # --- disks ---------------------------------------------------------------------------

    def create_disk(self, size_mb: int, cloud_properties: dict[str, Any],
                    vm_cid: str | None) -> str:
        if isinstance(size_mb, bool) or not isinstance(size_mb, int) or size_mb <= 0:
            raise InvalidCall(f"create_disk: size {size_mb!r} must be a positive number of MB")
        volume_type = cloud_properties.get("type", "gp3")
        if volume_type not in VOLUME_TYPES:
            raise InvalidCall(f"create_disk: cloud_properties.type {volume_type!r} is not one "
                              f"of {', '.join(VOLUME_TYPES)}")
        zone = cloud_properties.get("availability_zone")
        if vm_cid:
            zone = self._instance(vm_cid).extra.get("availability")
        if not zone:
            raise InvalidCall("create_disk: no availability zone (give a VM or "
                              "cloud_properties.availability_zone)")
        answer = self._request({
            "Action": "CreateVolume", "Size": str(math.ceil(size_mb / 1024)),
            "AvailabilityZone": zone, "VolumeType": volume_type,
            "Encrypted": "true" if cloud_properties.get("encrypted") else "false",
        })
        return str(self.driver._to_volume(answer).id)  # the driver's own parser

    def delete_disk(self, disk_cid: str) -> None:
        volume = self._volume(disk_cid)
        if volume.extra.get("instance_id"):
            raise CloudError(f"disk {disk_cid} is attached to {volume.extra['instance_id']}; "
                             "detach it first")
        try:
            self._call(lambda: self.driver.destroy_volume(volume))
        except Ec2Error as error:
            if error.code in aws_errors.VOLUME_MISSING:
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise

    def has_disk(self, disk_cid: str) -> bool:
        try:
            self._volume(disk_cid)
        except DiskNotFound:
            return False
        return True

    def attach_disk(self, vm_cid: str, disk_cid: str) -> dict[str, str]:
        """Attach at the first free /dev/sd[f-p]; another attach may take that name at the
        same moment (EC2 answers it is in use), so the next free one is tried.

        The hint names the device asked for and the volume: a Xen instance shows /dev/sdf
        as /dev/xvdf, a Nitro instance as some /dev/nvme<N>n1 whose serial is the volume id
        (the agent's ``disk_hints`` resolves both)."""
        node = self._instance(vm_cid)
        volume = self._volume(disk_cid)
        holder = volume.extra.get("instance_id")
        if holder == vm_cid and volume.extra.get("device"):
            return _disk_hint(str(volume.extra["device"]), disk_cid)
        if holder:
            raise CloudError(f"disk {disk_cid} is already attached to VM {holder}")
        used = {m.get("device_name") for m in node.extra.get("block_device_mapping") or []}
        for device in (d for d in DEVICE_NAMES if d not in used):
            try:
                self._call(lambda device=device: self.driver.attach_volume(node, volume, device))
            except Ec2Error as error:
                in_use = error.code == "VolumeInUse" or (
                    error.code == "InvalidParameterValue" and "in use" in str(error))
                if in_use:
                    self.log(f"attach_disk: {device} on {vm_cid} is taken; trying the next")
                    continue
                raise
            return _disk_hint(device, disk_cid)
        raise CloudError(f"VM {vm_cid} has no free device name in /dev/sd[f-p]")

    def detach_disk(self, vm_cid: str, disk_cid: str) -> None:
        self._instance(vm_cid)
        volume = self._volume(disk_cid)
        if volume.extra.get("instance_id") != vm_cid:
            self.log(f"detach_disk: disk {disk_cid} is not attached to {vm_cid}; nothing to do")
            return
        try:
            self._request({"Action": "DetachVolume", "VolumeId": disk_cid, "InstanceId": vm_cid})
        except Ec2Error as error:
            if error.code in ("IncorrectState", "InvalidAttachment.NotFound"):
                self.log(f"detach_disk: {disk_cid} was already detached")
                return
            raise

    def get_disks(self, vm_cid: str) -> list[str]:
        self._instance(vm_cid)
        volumes = self._call(lambda: self.driver.list_volumes(
            ex_filters={"attachment.instance-id": vm_cid}))
        # persistent disks only: the root and ephemeral volumes sit outside /dev/sd[f-p]
        return sorted(v.id for v in volumes if v.extra.get("instance_id") == vm_cid
                      and v.extra.get("device") in DEVICE_NAMES)

    def resize_disk(self, disk_cid: str, new_size_mb: int) -> None:
        volume = self._volume(disk_cid)
        new_gib = math.ceil(int(new_size_mb) / 1024)
        if new_gib < volume.size:
            raise CloudError(f"disk {disk_cid}: cannot shrink from {volume.size} GiB "
                             f"to {new_gib} GiB")
        if new_gib == volume.size:
            self.log(f"resize_disk: {disk_cid} is already {new_gib} GiB")
            return
        self._call(lambda: self.driver.ex_modify_volume(volume, {"Size": new_gib}))

    def snapshot_disk(self, disk_cid: str, metadata: dict[str, str]) -> str:
        volume = self._volume(disk_cid)
        answer = self._request({"Action": "CreateSnapshot", "VolumeId": disk_cid,
                                "Description": f"bosh snapshot of {disk_cid}"})
        snapshot = self.driver._to_snapshot(answer)  # the driver's own parser
        self._tag(snapshot, {**metadata, "disk_cid": volume.id})
        return str(snapshot.id)

    def delete_snapshot(self, snapshot_cid: str) -> None:
        try:
            self._request({"Action": "DeleteSnapshot", "SnapshotId": snapshot_cid})
        except Ec2Error as error:
            if error.code in aws_errors.SNAPSHOT_MISSING:
                self.log(f"delete_snapshot: {snapshot_cid} is already gone")
                return
            raise

    def set_disk_metadata(self, disk_cid: str, metadata: dict[str, str]) -> None:
        self._tag(self._volume(disk_cid), metadata)


def _disk_hint(device: str, volume_id: str) -> dict[str, str]:
    return {"path": device, "volume_id": volume_id}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PROVIDER = Ec2Provider
