"""The v2 errors of orgs, spaces, users and roles, with Cloud Foundry's codes."""

from __future__ import annotations

from ..errors import ApiError


def not_authorized() -> ApiError:
    return ApiError(403, 10003, "CF-NotAuthorized", "You are not authorized to perform the requested action")


def insufficient_scope(scope: str) -> ApiError:
    return ApiError(403, 10007, "CF-InsufficientScope",
                    f"Your token lacks the necessary scopes to access this resource ({scope} needed).")


def org_not_found(what: str) -> ApiError:
    return ApiError(404, 30003, "CF-OrganizationNotFound", f"The organization could not be found: {what}")


def org_name_taken(name: str) -> ApiError:
    return ApiError(400, 30002, "CF-OrganizationNameTaken", f"The organization name is taken: {name}")


def org_invalid(why: str) -> ApiError:
    return ApiError(400, 30001, "CF-OrganizationInvalid", f"The organization info is invalid: {why}")


def space_not_found(what: str) -> ApiError:
    return ApiError(404, 40004, "CF-SpaceNotFound", f"The app space could not be found: {what}")


def space_name_taken(name: str) -> ApiError:
    return ApiError(400, 40002, "CF-SpaceNameTaken", f"The app space name is taken: {name}")


def space_invalid(why: str) -> ApiError:
    return ApiError(400, 40001, "CF-SpaceInvalid", f"The app space is invalid: {why}")


def user_not_found(what: str) -> ApiError:
    return ApiError(404, 20003, "CF-UserNotFound", f"The user could not be found: {what}")


def user_invalid(why: str) -> ApiError:
    return ApiError(400, 20001, "CF-UserInvalid", f"The user info is invalid: {why}")


def association_not_empty(associations: list[str], of: str) -> ApiError:
    """CF's answer to deleting a non-empty org or space without ``recursive=true``."""
    return ApiError(400, 10006, "CF-AssociationNotEmpty",
                    f"Please delete the {', '.join(associations)} associations for your {of}.")


def default_not_deletable(what: str) -> ApiError:
    return ApiError(422, 10008, "CF-UnprocessableEntity",
                    f"The default {what} cannot be deleted: apps pushed without a target land there "
                    f"(and the cloud controller makes it again at start)")
