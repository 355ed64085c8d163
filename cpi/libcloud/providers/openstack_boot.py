"""Waiting on Nova's asynchronous work: a server Nova accepted becomes ACTIVE or goes to ERROR
later (its ``fault`` says why, e.g. "No valid host was found"); a deleted server disappears later.

Deleting a server is only done when it is gone and no Neutron port is still bound to it: Nova
normally deletes the ports it made, but not always for a server that failed, and a leaked port
keeps its fixed IP, so the next create_vm with that static IP would fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cpi.libcloud.errors import CloudError, VMNotFound
from cpi.libcloud.providers import openstack_errors
from cpi.libcloud.providers.openstack_api import OpenStackApi, OpenStackError

FIRST_POLL = 0.2  # seconds; doubled after each poll up to MAX_POLL
MAX_POLL = 3.0


class ServerFailed(CloudError):
    """A server Nova accepted did not come up; ``ok_to_retry`` when Nova had no room for it."""


def _poll(api: OpenStackApi, timeout: float, until: Callable[[], bool], what: Callable[[], str],
          clock: Callable[[], float] = time.monotonic) -> None:
    deadline = clock() + timeout
    delay = FIRST_POLL
    while not until():
        if clock() >= deadline:
            raise ServerFailed(f"{what()} after {timeout:g} s (CPI config openstack.state_timeout)")
        api.sleep(delay)
        delay = min(delay * 2, MAX_POLL)


def wait_until_active(api: OpenStackApi, vm_cid: str, timeout: float) -> None:
    """Return once the server is ACTIVE; ``ServerFailed`` with Nova's fault when it goes to ERROR."""
    seen: dict[str, str] = {}

    def active() -> bool:
        server = api.server(vm_cid)
        seen["status"] = status = str(server.get("status", "")).upper()
        if status == "ERROR":
            fault = (server.get("fault") or {}).get("message") or "no fault message"
            raise ServerFailed(f"server {vm_cid} went to ERROR: {fault}",
                               ok_to_retry=openstack_errors.is_capacity_message(fault))
        return status == "ACTIVE"

    _poll(api, timeout, active, lambda: f"server {vm_cid} is still {seen.get('status')} (not ACTIVE)")


def delete_server(api: OpenStackApi, vm_cid: str, timeout: float) -> None:
    """Delete the server, wait until Nova no longer shows it, then delete any port still bound to it.
    ``VMNotFound`` when it was already gone."""
    try:
        api.nova(f"/servers/{vm_cid}", method="DELETE")
    except OpenStackError as error:
        if error.status == openstack_errors.MISSING:
            raise VMNotFound(f"VM {vm_cid} not found") from error
        raise

    def gone() -> bool:
        try:
            api.server(vm_cid)
        except VMNotFound:
            return True
        return False

    _poll(api, timeout, gone, lambda: f"server {vm_cid} is still not deleted")
    for port in api.neutron("/ports", query={"device_id": vm_cid})["ports"]:
        api.log(f"port {port['id']} ({_addresses(port)}) outlived server {vm_cid}; deleting it")
        try:
            api.neutron(f"/ports/{port['id']}", method="DELETE")
        except OpenStackError as error:
            if error.status != openstack_errors.MISSING:
                raise


def _addresses(port: dict[str, object]) -> str:
    ips = port.get("fixed_ips") or []
    return ", ".join(str(ip.get("ip_address")) for ip in ips if isinstance(ip, dict)) or "no address"
