"""EC2 error codes, read from libcloud's exceptions, and what each means to a CPI.

libcloud's EC2 driver raises its errors with the text ``Code: message``; the code decides
whether a resource is missing, the call was throttled, or capacity ran out.
"""

from __future__ import annotations

import re

from libcloud.common.types import InvalidCredsError

CODE = re.compile(r"^'?([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*): ")
THROTTLING = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException",
                        "SlowDown", "ServiceUnavailable"})
CAPACITY = frozenset({"InsufficientInstanceCapacity", "InsufficientCapacity",
                      "InstanceLimitExceeded", "InsufficientAddressCapacity",
                      "InsufficientHostCapacity", "VcpuLimitExceeded"})
INSTANCE_MISSING = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
VOLUME_MISSING = frozenset({"InvalidVolume.NotFound", "InvalidVolumeID.Malformed"})
SNAPSHOT_MISSING = frozenset({"InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed"})
IMAGE_MISSING = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Malformed",
                           "InvalidAMIID.Unavailable"})


def error_code(error: Exception) -> str | None:
    """The EC2 error code in a libcloud exception, or None when it carries none."""
    if isinstance(error, InvalidCredsError):
        return "AuthFailure"
    match = CODE.match(str(getattr(error, "value", None) or error))
    return match.group(1) if match else None


def is_throttled(error: Exception) -> bool:
    return error_code(error) in THROTTLING


def is_credentials(error: Exception) -> bool:
    return isinstance(error, InvalidCredsError) or error_code(error) in (
        "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnauthorizedOperation")


def describe(error: Exception) -> str:
    """The error's text without libcloud's quoting."""
    text = str(getattr(error, "value", None) or error)
    return text.strip("'\"")
