"""The one way the OpenStack provider reaches the cloud: libcloud's OpenStack_2_NodeDriver (Keystone v3
password auth, project-scoped), each call retried when throttled, once more after a refused token,
and its errors sorted into the CPI's types.

Raw Nova, Neutron and Cinder requests go through the driver's own authenticated connections, for the
calls libcloud does not model (fixed IPs, server faults, port filters, os-extend).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from libcloud.compute.base import StorageVolume
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider as LibcloudProvider

from cpi.libcloud.errors import CloudError, DiskNotFound, InvalidCall, VMNotFound
from cpi.libcloud.providers import openstack_errors
from cpi.libcloud.providers.common import ApiErrors, call_api, required_setting

REQUIRED = ("auth_url", "username", "password", "project", "domain", "region")


class OpenStackError(CloudError):
    """An OpenStack error answer; ``status`` is its HTTP status. Throttling that outlasted every
    retry is worth retrying later (``ok_to_retry``)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"OpenStack: {message}", ok_to_retry=status in openstack_errors.THROTTLING)
        self.status = status


def make_driver(settings: dict[str, Any]) -> Any:
    """libcloud's OpenStack v2 driver; every identity field is required, nothing defaults."""
    if "project" not in settings and "tenant" in settings:  # Keystone v2's name for it
        settings = {**settings, "project": settings["tenant"]}
    values = {key: required_setting(settings, "openstack", key) for key in REQUIRED}
    parts = urlsplit(values["auth_url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCall(f"CPI config openstack.auth_url {values['auth_url']!r}: "
                          "an http(s):// Keystone URL is required")
    driver_class = get_driver(LibcloudProvider.OPENSTACK)
    return driver_class(values["username"], values["password"], ex_tenant_name=values["project"],
                        ex_domain_name=values["domain"], ex_force_auth_url=values["auth_url"],
                        ex_force_auth_version="3.x_password", api_version="2.0",
                        ex_force_service_region=values["region"])


def _as_openstack_error(error: Exception) -> OpenStackError | None:
    if not type(error).__module__.startswith("libcloud"):
        return None
    return OpenStackError(openstack_errors.status_of(error), openstack_errors.describe(error))


OPENSTACK_ERRORS = ApiErrors(openstack_errors.is_throttled, openstack_errors.is_credentials,
                             openstack_errors.describe, _as_openstack_error,
                             "openstack.username / password / project / domain")


class OpenStackApi:
    """The driver and the calls every part of the provider makes through it."""

    def __init__(self, settings: dict[str, Any], log: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.driver = make_driver(settings)
        self.where = f"OpenStack at {settings['auth_url']}"
        self.log = log
        self.sleep = sleep

    def call(self, action: Callable[[], Any]) -> Any:
        """Run one driver call with throttling retried; API errors become ``OpenStackError``."""
        return call_api(lambda: self._with_fresh_token(action), OPENSTACK_ERRORS, self.where,
                        self.log, self.sleep)

    def _with_fresh_token(self, action: Callable[[], Any]) -> Any:
        """A token Keystone issued can expire or be revoked before the time it announced; libcloud
        then forgets it, so one more try logs in again. A refused login is not retried."""
        try:
            return action()
        except Exception as error:
            if not openstack_errors.is_token_refused(error):
                raise
            self.log("OpenStack refused the token (expired or revoked); logging in again")
            return action()

    # --- raw service requests --------------------------------------------------------------

    def nova(self, path: str, method: str = "GET", data: dict[str, Any] | None = None) -> Any:
        return self.call(lambda: self.driver.connection.request(path, method=method, data=data).object)

    def neutron(self, path: str, method: str = "GET", query: dict[str, str] | None = None) -> Any:
        url = f"/v2.0{path}" + (f"?{urlencode(query)}" if query else "")
        return self.call(lambda: self.driver.network_connection.request(url, method=method).object)

    def cinder(self, path: str, method: str = "GET", data: dict[str, Any] | None = None) -> Any:
        connection = self.driver._get_volume_connection()
        return self.call(lambda: connection.request(path, method=method, data=data).object)

    # --- lookups ---------------------------------------------------------------------------

    def server(self, vm_cid: str) -> dict[str, Any]:
        """Nova's view of the server; gone (404, DELETED, SOFT_DELETED) is ``VMNotFound``."""
        try:
            server: dict[str, Any] = self.nova(f"/servers/{vm_cid}")["server"]
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                raise VMNotFound(f"VM {vm_cid} not found") from error
            raise
        if str(server.get("status", "")).upper() in openstack_errors.GONE_STATES:
            raise VMNotFound(f"VM {vm_cid} not found")
        return server

    def volume(self, disk_cid: str) -> StorageVolume:
        try:
            return self.call(lambda: self.driver.ex_get_volume(disk_cid))
        except OpenStackError as error:
            if error.status == openstack_errors.MISSING:
                raise DiskNotFound(f"disk {disk_cid} not found") from error
            raise
