"""A broker's failure as the API error the user reads (CF's ServiceBroker* errors)."""

from __future__ import annotations

from ..errors import ApiError
from . import errors
from .broker_client import BrokerFailure


def api_error(failure: BrokerFailure) -> ApiError:
    message = str(failure)
    if failure.kind == "timeout":
        return errors.broker_timeout(message)
    if failure.kind == "unreachable":
        return errors.broker_unreachable(message)
    if failure.kind == "async_required":
        return errors.async_required()
    if failure.kind in ("rejected", "conflict"):
        return errors.broker_rejected(message)
    return errors.broker_bad_response(message)
