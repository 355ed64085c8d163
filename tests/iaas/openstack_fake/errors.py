"""API errors and the JSON bodies each OpenStack service wraps them in, so libcloud parses them
as it parses a real cloud's (its message lands in the exception text)."""

from __future__ import annotations

from dataclasses import dataclass

# Nova and Cinder name the fault after the HTTP status ("itemNotFound", "badRequest", ...).
NOVA_FAULTS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               409: "conflictingRequest", 413: "overLimit"}


@dataclass
class ApiError(Exception):
    """A failed call: ``status`` is the HTTP status, ``neutron_type`` the Neutron fault type
    (e.g. ``IpAddressAlreadyAllocated``) when Neutron raised it."""

    status: int
    message: str
    neutron_type: str = ""

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


def not_found(message: str, neutron_type: str = "") -> ApiError:
    return ApiError(404, message, neutron_type)


def bad_request(message: str, neutron_type: str = "InvalidInput") -> ApiError:
    return ApiError(400, message, neutron_type)


def conflict(message: str, neutron_type: str = "Conflict") -> ApiError:
    return ApiError(409, message, neutron_type)


def error_body(service: str, error: ApiError) -> dict:
    """The body OpenStack sends for ``error`` from ``service`` (keystone, neutron, or a
    Nova-style service: compute, volume, image)."""
    if service == "keystone":
        title = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(error.status, "Error")
        return {"error": {"code": error.status, "title": title, "message": error.message}}
    if service == "neutron":
        return {"NeutronError": {"type": error.neutron_type or "NeutronError", "message": error.message,
                                 "detail": ""}}
    return {NOVA_FAULTS.get(error.status, "computeFault"): {"code": error.status, "message": error.message}}
