"""OpenStack error answers, read from libcloud's exceptions, and what each means to a CPI.

libcloud's OpenStack driver raises ``BaseHTTPError`` with the HTTP status as ``code`` and the
service's message (Nova/Cinder ``itemNotFound`` …, Neutron ``NeutronError``); a refused
Keystone login is ``InvalidCredsError``, a refused token on a service call is a 401
``BaseHTTPError``. A server Nova accepted but could not build shows status ERROR and a
``fault`` message instead of an error answer.
"""

from __future__ import annotations

from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.types import InvalidCredsError

THROTTLING = frozenset({429, 503})
MISSING = 404
QUOTA = frozenset({403, 413})  # Nova: "Quota exceeded for instances" (413 on older clouds)
GONE_STATES = ("DELETED", "SOFT_DELETED")
# Nova's words for "no room right now": the scheduler found no host, or every host it tried failed.
CAPACITY_WORDS = ("No valid host", "Exceeded maximum number of retries", "Quota exceeded")


def status_of(error: Exception) -> int | None:
    """The HTTP status of a libcloud OpenStack error, or None when it carries none."""
    if isinstance(error, InvalidCredsError):
        return 401
    code = getattr(error, "code", None)
    return code if isinstance(error, BaseHTTPError) and isinstance(code, int) else None


def is_throttled(error: Exception) -> bool:
    return status_of(error) in THROTTLING


def is_credentials(error: Exception) -> bool:
    return status_of(error) == 401


def is_token_refused(error: Exception) -> bool:
    """A service refused the token (expired or revoked early), as opposed to Keystone refusing
    the configured credentials (``InvalidCredsError``)."""
    return isinstance(error, BaseHTTPError) and not isinstance(error, InvalidCredsError) \
        and error.code == 401


def is_capacity_message(text: str) -> bool:
    return any(words in text for words in CAPACITY_WORDS)


def is_capacity(error: Exception) -> bool:
    """No room right now (quota, no valid host) or throttled past every retry: worth retrying later."""
    text = describe(error)
    return (status_of(error) in QUOTA and "Quota exceeded" in text) or "No valid host" in text \
        or is_throttled(error)


def describe(error: Exception) -> str:
    text = str(getattr(error, "message", None) or getattr(error, "value", None) or error)
    return text.strip("'\"")
