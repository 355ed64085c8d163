"""API errors in Cloud Foundry's v2 shape: ``{code, description, error_code}`` + HTTP status.

One exception class carries all three so handlers just raise; the HTTP layer renders it.
The numeric codes are cloud_controller_ng's (vendor/errors/v2.yml), so a `cf`-literate
user recognises them.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: int, error_code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.error_code = error_code
        self.description = description
        self.headers: dict[str, str] = {}

    def body(self) -> dict:
        return {"code": self.code, "description": self.description, "error_code": self.error_code}


def invalid_auth_token(why: str = "Invalid Auth Token") -> ApiError:
    return ApiError(401, 1000, "CF-InvalidAuthToken", why)


def not_authorized_internal() -> ApiError:
    return ApiError(401, 10002, "CF-NotAuthenticated", "Authentication error: internal API credentials required")


def not_found(what: str = "Unknown request") -> ApiError:
    return ApiError(404, 10000, "CF-NotFound", what)


def invalid_request(why: str) -> ApiError:
    return ApiError(400, 10004, "CF-InvalidRequest", f"The request is invalid: {why}")


def message_parse_error(why: str) -> ApiError:
    return ApiError(400, 1001, "CF-MessageParseError", f"Request invalid due to parse error: {why}")


def app_not_found(guid: str) -> ApiError:
    return ApiError(404, 100004, "CF-AppNotFound", f"The app could not be found: {guid}")


def app_name_taken(name: str) -> ApiError:
    return ApiError(400, 100002, "CF-AppNameTaken", f"The app name is taken: {name}")


def app_invalid(why: str) -> ApiError:
    return ApiError(400, 100001, "CF-AppInvalid", f"The app is invalid: {why}")


def bits_invalid(why: str) -> ApiError:
    return ApiError(400, 160001, "CF-AppBitsUploadInvalid", f"The app upload is invalid: {why}")


def app_package_invalid(why: str) -> ApiError:
    return ApiError(400, 150001, "CF-AppPackageInvalid", f"The app package is invalid: {why}")


def app_package_not_found(guid: str) -> ApiError:
    return ApiError(404, 150002, "CF-AppPackageNotFound", f"The app package could not be found: {guid}")


def droplet_not_found(guid: str) -> ApiError:
    return ApiError(404, 160002, "CF-StagingError", f"No droplet for app {guid}")


def not_staged() -> ApiError:
    return ApiError(400, 170002, "CF-NotStaged", "App has not finished staging")


def staging_error(why: str) -> ApiError:
    return ApiError(400, 170001, "CF-StagingError", f"Staging error: {why}")


def app_stopped(guid: str) -> ApiError:
    return ApiError(400, 200003, "CF-AppStoppedStatsError",
                    f"Could not fetch stats for stopped app: {guid}")


def route_not_found(guid: str) -> ApiError:
    return ApiError(404, 210002, "CF-RouteNotFound", f"The route could not be found: {guid}")


def route_host_taken(host: str) -> ApiError:
    return ApiError(400, 210003, "CF-RouteHostTaken", f"The host is taken: {host}")


def route_invalid(why: str) -> ApiError:
    return ApiError(400, 210001, "CF-RouteInvalid", f"The route is invalid: {why}")


def domain_not_found(guid: str) -> ApiError:
    return ApiError(404, 130002, "CF-DomainNotFound", f"The domain could not be found: {guid}")


def payload_too_large(limit_mb: int) -> ApiError:
    return ApiError(413, 10011, "CF-PayloadTooLarge", f"The request body is larger than {limit_mb} MB")


def server_error() -> ApiError:
    return ApiError(500, 10001, "CF-ServerError", "An unknown error occurred.")


def dea_unavailable(why: str) -> ApiError:
    return ApiError(503, 170015, "CF-RunnerUnavailable", f"Runner is unavailable: {why}")
