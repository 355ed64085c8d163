"""Helpers every provider needs the same way: reading its config section, choosing the
network a VM's one interface is on, and the one way a driver call is made and its errors
sorted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cpi.libcloud.errors import CloudError, InvalidCall
from cpi.libcloud.retry import with_backoff


def required_setting(settings: dict[str, Any], provider: str, key: str) -> str:
    """A non-empty string from the provider's config section: nothing defaults to some account."""
    value = settings.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidCall(f"CPI config {provider}.{key}: a non-empty string is required")
    return value


def primary_network(networks: dict[str, Any]) -> dict[str, Any]:
    """The network the VM's one interface is on: the default gateway's, else the first."""
    if not networks:
        return {}
    for net in networks.values():
        if "gateway" in (net.get("default") or []):
            return dict(net)
    return dict(next(iter(networks.values())))


@dataclass(frozen=True)
class ApiErrors:
    """How one IaaS's errors read: which are throttling or refused credentials, how to say
    them, and the provider's own error type for the rest (None: not an API answer)."""

    is_throttled: Callable[[Exception], bool]
    is_credentials: Callable[[Exception], bool]
    describe: Callable[[Exception], str]
    as_api_error: Callable[[Exception], CloudError | None]
    credentials_hint: str  # the config keys to check


def call_api(action: Callable[[], Any], errors: ApiErrors, where: str, log: Callable[[str], None],
             sleep: Callable[[float], None]) -> Any:
    """Run one driver call with throttling retried: refused credentials and an unreachable
    endpoint become clear ``CloudError``s, API answers the provider's error type; a bug in
    our own code is re-raised as it is."""
    try:
        return with_backoff(action, errors.is_throttled, log=log, sleep=sleep)
    except (CloudError, InvalidCall):
        raise
    except Exception as error:
        if errors.is_credentials(error):
            raise CloudError(f"{where} rejected the configured credentials (check {errors.credentials_hint}): "
                             f"{errors.describe(error)}") from error
        if isinstance(error, OSError) or type(error).__name__ == "ConnectionError":
            raise CloudError(f"cannot reach {where}: {error}", ok_to_retry=True) from error
        api_error = errors.as_api_error(error)
        if api_error is None:
            raise
        raise api_error from error
