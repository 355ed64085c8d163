"""The vSphere provider's config section, and logging in through libcloud's VSphereNodeDriver.

TLS is verified by default. libcloud passes an SSL context to pyvmomi only when it is given a CA
file, and pyvmomi silently skips verification for a host named ``localhost``/``127.0.0.1`` when
it gets none; so the driver is always handed a CA file: ``ca_cert`` (PEM text, as BOSH's vSphere
CPI takes it) written to a private temporary file, else the system's CA bundle. ``insecure: true``
is the only way to skip verification. libcloud turns every login failure into a generic
``LibcloudError``; the original exception is still chained to it and decides the message.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any

from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider as LibcloudProvider

from cpi.libcloud.errors import CloudError, InvalidCall
from cpi.libcloud.providers import vsphere_errors
from cpi.libcloud.providers.common import required_setting

SYSTEM_CA_BUNDLE = ssl.get_default_verify_paths().openssl_cafile


@dataclass(frozen=True)
class VsphereSettings:
    host: str
    user: str
    password: str = field(repr=False)
    datacenter: str
    port: int = 443
    ca_cert: str | None = field(default=None, repr=False)
    insecure: bool = False
    default_cluster: str | None = None
    default_datastore: str | None = None

    @property
    def where(self) -> str:
        return f"vSphere at {self.host}:{self.port}"


def parse_settings(settings: dict[str, Any]) -> VsphereSettings:
    """The ``vsphere`` config section; every error names its key."""
    values = {key: required_setting(settings, "vsphere", key)
              for key in ("host", "user", "password", "datacenter")}
    port = settings.get("port", 443)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidCall(f"CPI config vsphere.port {port!r}: a TCP port number is required")
    insecure = settings.get("insecure", False)
    if not isinstance(insecure, bool):
        raise InvalidCall(f"CPI config vsphere.insecure {insecure!r}: true or false is required")
    ca_cert = settings.get("ca_cert")
    if ca_cert is not None and (not isinstance(ca_cert, str) or "-----BEGIN CERTIFICATE-----" not in ca_cert):
        raise InvalidCall("CPI config vsphere.ca_cert: PEM text of the CA certificate(s) that signed "
                          "vCenter's certificate is required (\"-----BEGIN CERTIFICATE-----…\")")
    if ca_cert and insecure:
        raise InvalidCall("CPI config vsphere: ca_cert and insecure: true contradict each other; "
                          "set one")
    defaults = {}
    for key in ("default_cluster", "default_datastore"):
        value = settings.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidCall(f"CPI config vsphere.{key} {value!r}: a name is required")
        defaults[key] = value
    return VsphereSettings(port=port, ca_cert=ca_cert, insecure=insecure, **values, **defaults)


def connect(settings: VsphereSettings) -> Any:
    """A logged-in libcloud VSphereNodeDriver; login failures become clear ``CloudError``s."""
    driver_class = get_driver(LibcloudProvider.VSPHERE)
    ca_file = None
    try:
        if settings.ca_cert:
            handle, ca_file = tempfile.mkstemp(prefix="bosh-py-vsphere-ca-", suffix=".pem")
            with os.fdopen(handle, "w") as pem:
                pem.write(settings.ca_cert)
        ca_path = None if settings.insecure else (ca_file or SYSTEM_CA_BUNDLE)
        return driver_class(settings.host, settings.user, settings.password, port=settings.port,
                            ca_cert=ca_path, verify_ssl=not settings.insecure)
    except Exception as error:
        raise _login_failure(settings, error) from error
    finally:
        if ca_file:
            os.unlink(ca_file)


def _login_failure(settings: VsphereSettings, error: Exception) -> CloudError:
    causes = list(_chain(error))
    if any(vsphere_errors.is_credentials(cause) for cause in causes):
        return CloudError(f"{settings.where} rejected the configured credentials "
                          "(check vsphere.user / vsphere.password)")
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return CloudError(f"{settings.where}: its TLS certificate is not trusted "
                              f"({cause.verify_message}); set vsphere.ca_cert to the CA that "
                              "signed it")
    for cause in causes:
        if isinstance(cause, OSError):
            return CloudError(f"cannot reach {settings.where}: {cause}", ok_to_retry=True)
    return CloudError(f"cannot log in to {settings.where}: "
                      f"{'; '.join(vsphere_errors.describe(c) for c in causes)}")


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what it was raised from or during, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
