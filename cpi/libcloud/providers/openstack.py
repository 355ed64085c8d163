"""The OpenStack provider: each CPI verb as Nova, Neutron, Cinder and Glance calls through libcloud's
OpenStack_2_NodeDriver (Keystone v3 password auth, project-scoped).

The parts, one job each: ``openstack_api`` (the driver, retries, re-authentication, error
sorting), ``openstack_server`` (the server-create request), ``openstack_networks`` (NICs and
their addresses), ``openstack_flavors`` (flavor choice), ``openstack_boot`` (waiting for Nova,
deleting without leftovers), ``openstack_disks`` (the disk verbs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn

from cpi.libcloud.errors import CloudError, InvalidCall, VMCreationFailed, VMNotFound
from cpi.libcloud.provider import VmSpec
from cpi.libcloud.providers import openstack_errors
from cpi.libcloud.providers.openstack_api import OpenStackApi, OpenStackError
from cpi.libcloud.providers.openstack_boot import ServerFailed, delete_server, wait_until_active
from cpi.libcloud.providers.openstack_disks import OpenStackDisks
from cpi.libcloud.providers.openstack_flavors import flavors_from, smallest_fitting
from cpi.libcloud.providers.openstack_networks import networks_with_ips
from cpi.libcloud.providers.openstack_server import ServerDefaults, server_request

DEFAULT_STATE_TIMEOUT = 300.0  # seconds a server may take to become ACTIVE or to disappear


def _state_timeout(settings: dict[str, Any]) -> float:
    value = settings.get("state_timeout", DEFAULT_STATE_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidCall(f"CPI config openstack.state_timeout {value!r}: a positive number of seconds "
                          "is required")
    return float(value)


class OpenStackProvider(OpenStackDisks):
    stemcell_formats = ("openstack-light",)

    def __init__(self, settings: dict[str, Any], log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api = OpenStackApi(settings, log, sleep)
        self.defaults = ServerDefaults.from_settings(settings)
        self.state_timeout = _state_timeout(settings)
        self.log = log

    # --- stemcells (light: an existing Glance image) ---------------------------------------

    def create_stemcell(self, cloud_properties: dict[str, Any]) -> str:
        """A light stemcell names an existing Glance image; check it is there."""
        image = cloud_properties.get("image_id")
        if not isinstance(image, str) or not image:
            raise CloudError("light stemcell: cloud_properties.image_id (a Glance image id) is required")
        try:
            self.api.call(lambda: self.api.driver.get_image(image))
        except OpenStackError as error:
            raise CloudError(f"light stemcell image {image} is not available: {error}") from error
        return image

    def delete_stemcell(self, stemcell_cid: str) -> None:
        self.log(f"light stemcell {stemcell_cid}: the Glance image is the operator's, left in place")

    # --- VMs -----------------------------------------------------------------------------

    def create_vm(self, spec: VmSpec) -> tuple[str, dict[str, Any]]:
        """Nova checks flavor, image, zone, key, groups and networks before it makes anything; a
        server it accepted that fails afterwards is deleted, with any port it leaves, before the
        error is answered."""
        request = server_request(self.api, spec, self.defaults)
        try:
            created = self.api.nova("/servers", method="POST", data={"server": request.body})["server"]
        except OpenStackError as error:
            raise VMCreationFailed(f"create_vm for agent {spec.agent_id}: {error}",
                                   ok_to_retry=openstack_errors.is_capacity(error.__cause__ or error)
                                   ) from error
        vm_cid = str(created["id"])
        try:
            wait_until_active(self.api, vm_cid, self.state_timeout)
            ports = self.api.neutron("/ports", query={"device_id": vm_cid})["ports"]
            return vm_cid, networks_with_ips(spec.networks, request.nics, ports)
        except Exception as error:
            self._remove_failed(vm_cid, error)

    def _remove_failed(self, vm_cid: str, error: Exception) -> NoReturn:
        """Delete a server that did not come up and answer why, retryable when Nova had no room."""
        self.log(f"create_vm: server {vm_cid} did not come up; deleting it")
        cleanup = "deleted it"
        try:
            delete_server(self.api, vm_cid, self.state_timeout)
        except VMNotFound:
            cleanup = "it is already gone"
        except CloudError as failure:
            cleanup = f"and could not delete it, delete it by hand: {failure}"
        retry = isinstance(error, (ServerFailed, OpenStackError)) and error.ok_to_retry
        raise VMCreationFailed(f"create_vm: server {vm_cid} failed to start, {cleanup}: {error}",
                               ok_to_retry=retry) from error

    def delete_vm(self, vm_cid: str) -> None:
        self.api.server(vm_cid)
        delete_server(self.api, vm_cid, self.state_timeout)

    def has_vm(self, vm_cid: str) -> bool:
        try:
            self.api.server(vm_cid)
        except VMNotFound:
            return False
        return True

    def reboot_vm(self, vm_cid: str) -> None:
        self.api.server(vm_cid)
        self.api.nova(f"/servers/{vm_cid}/action", method="POST", data={"reboot": {"type": "SOFT"}})

    def set_vm_metadata(self, vm_cid: str, metadata: dict[str, str]) -> None:
        """Nova metadata, merged into what the server has (its agent_id stays)."""
        self.api.server(vm_cid)
        items = dict(metadata)
        if "name" not in items and "job" in metadata and "index" in metadata:
            items["name"] = f"{metadata['job']}/{metadata['index']}"
        self.api.nova(f"/servers/{vm_cid}/metadata", method="POST", data={"metadata": items})

    def calculate_vm_cloud_properties(self, requirements: dict[str, Any]) -> dict[str, Any]:
        """The smallest flavor Nova lists that holds cpu, ram (MB) and the ephemeral disk (MB);
        availability zones are the cloud-config's, so none is named here."""
        wanted = {}
        for key in ("cpu", "ram", "ephemeral_disk_size"):
            value = requirements.get(key) if isinstance(requirements, dict) else None
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key.startswith("eph") else 1):
                raise InvalidCall(f"calculate_vm_cloud_properties: vm_resources.{key} must be a "
                                  f"{'non-negative' if key.startswith('eph') else 'positive'} integer, "
                                  f"got {value!r}")
            wanted[key] = value
        flavors = flavors_from(self.api.nova("/flavors/detail")["flavors"])
        chosen = smallest_fitting(flavors, wanted["cpu"], wanted["ram"], wanted["ephemeral_disk_size"])
        if chosen is None:
            raise CloudError(f"no flavor has {wanted['cpu']} vCPUs, {wanted['ram']} MB of memory and room for "
                             f"a {wanted['ephemeral_disk_size']} MB ephemeral disk (flavors: "
                             f"{', '.join(sorted(f.name for f in flavors)) or 'none'})")
        return {"flavor": chosen.name}


PROVIDER = OpenStackProvider
