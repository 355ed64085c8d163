"""The service API's errors, with cloud_controller_ng's codes (vendor/errors/v2.yml)."""

from __future__ import annotations

from ..errors import ApiError


def broker_url_invalid(why: str) -> ApiError:
    return ApiError(400, 270011, "CF-ServiceBrokerUrlInvalid", f"{why}")


def broker_name_taken(name: str) -> ApiError:
    return ApiError(400, 270002, "CF-ServiceBrokerNameTaken", f"The service broker name is taken: {name}")


def broker_not_found(guid: str) -> ApiError:
    return ApiError(404, 270004, "CF-ServiceBrokerNotFound", f"The service broker could not be found: {guid}")


def broker_not_removable(name: str) -> ApiError:
    return ApiError(400, 270010, "CF-ServiceBrokerNotRemovable",
                    f"Can not remove brokers that have associated service instances: {name}")


def catalog_invalid(why: str) -> ApiError:
    return ApiError(502, 270012, "CF-ServiceBrokerCatalogInvalid", f"Service broker catalog is invalid: {why}")


def broker_bad_response(why: str) -> ApiError:
    return ApiError(502, 10001, "CF-ServiceBrokerBadResponse", why)


def broker_rejected(why: str) -> ApiError:
    return ApiError(502, 10001, "CF-ServiceBrokerRequestRejected", why)


def broker_timeout(why: str) -> ApiError:
    return ApiError(504, 10001, "CF-ServiceBrokerApiTimeout", why)


def broker_unreachable(why: str) -> ApiError:
    return ApiError(502, 10001, "CF-ServiceBrokerApiUnreachable", why)


def async_required() -> ApiError:
    return ApiError(400, 10001, "CF-AsyncRequired",
                    "This service plan requires client support for asynchronous service operations "
                    "(send accepts_incomplete=true).")


def service_not_found(guid: str) -> ApiError:
    return ApiError(404, 120003, "CF-ServiceNotFound", f"The service could not be found: {guid}")


def plan_not_found(guid: str) -> ApiError:
    return ApiError(404, 110003, "CF-ServicePlanNotFound", f"The service plan could not be found: {guid}")


def instance_not_found(guid: str) -> ApiError:
    return ApiError(404, 60004, "CF-ServiceInstanceNotFound", f"The service instance could not be found: {guid}")


def instance_name_taken(name: str) -> ApiError:
    return ApiError(400, 60002, "CF-ServiceInstanceNameTaken", f"The service instance name is taken: {name}")


def instance_invalid(why: str) -> ApiError:
    return ApiError(400, 60003, "CF-ServiceInstanceInvalid", f"The service instance is invalid: {why}")


def operation_in_progress(name: str) -> ApiError:
    return ApiError(409, 60016, "CF-AsyncServiceInstanceOperationInProgress",
                    f"An operation for service instance {name} is in progress.")


def instance_has_bindings(name: str) -> ApiError:
    return ApiError(400, 10006, "CF-AssociationNotEmpty",
                    f"Please delete the service_bindings associations for your service_instances ({name}).")


def binding_taken() -> ApiError:
    return ApiError(400, 90003, "CF-ServiceBindingAppServiceTaken",
                    "The app is already bound to the service instance.")


def binding_not_found(guid: str) -> ApiError:
    return ApiError(404, 90004, "CF-ServiceBindingNotFound", f"The service binding could not be found: {guid}")


def invalid_syslog_drain_url() -> ApiError:
    return ApiError(502, 10001, "CF-ServiceBrokerInvalidSyslogDrainUrl",
                    "The service is attempting to stream logs from your application, but is not registered as a "
                    "logging service (its catalog does not require syslog_drain). Please contact the service provider.")


def binding_invalid(why: str) -> ApiError:
    return ApiError(400, 90002, "CF-ServiceBindingInvalid", f"The service binding is invalid: {why}")


def not_authorized() -> ApiError:
    return ApiError(403, 10003, "CF-NotAuthorized", "You are not authorized to perform the requested action")
