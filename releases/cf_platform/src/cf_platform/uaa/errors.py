"""OAuth2-shaped errors: ``{"error": code, "error_description": text}`` with an HTTP status."""

from __future__ import annotations


class UaaError(Exception):
    """The root of UAA's errors; ``str(e)`` is the user-facing description."""


class OAuthError(UaaError):
    """An error answered to the client as OAuth2 JSON (RFC 6749 section 5.2)."""

    def __init__(self, status: int, error: str, description: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def bad_client() -> OAuthError:
    return OAuthError(401, "unauthorized", "Bad credentials",
                      {"WWW-Authenticate": 'Basic realm="UAA/client", error="unauthorized"'})


def bad_user() -> OAuthError:
    """The same answer for an unknown user, a wrong password and an inactive user (no
    enumeration of user names)."""
    return OAuthError(401, "unauthorized", "Bad credentials")


def invalid_token(why: str = "The token is invalid") -> OAuthError:
    return OAuthError(401, "invalid_token", why,
                      {"WWW-Authenticate": 'Bearer realm="UAA", error="invalid_token"'})


def insufficient_scope(needed: str) -> OAuthError:
    return OAuthError(403, "insufficient_scope", f"Insufficient scope for this resource (needs {needed})")


def invalid_request(why: str) -> OAuthError:
    return OAuthError(400, "invalid_request", why)


def not_found(what: str) -> OAuthError:
    return OAuthError(404, "scim_resource_not_found", what)
