"""The cloud controller's v2 API from the client's side: one method per call, v2 errors
turned into :class:`CfError` with the server's description."""

from __future__ import annotations

from typing import Any

import httpx

from .errors import CfError


class CcClient:
    def __init__(self, api: str, token: str | None = None, timeout: float = 30.0,
                 space_guid: str | None = None) -> None:
        self.api = api.rstrip("/")
        self.space_guid = space_guid   # the targeted space: app names are unique only within one
        headers = {"Authorization": f"bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.api, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "CcClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise CfError(f"The cloud controller at {self.api} did not answer {method} {path} in time") from None
        except httpx.HTTPError as e:
            raise CfError(f"Cannot reach the cloud controller at {self.api}: {e}") from None
        if response.status_code not in ok:
            raise api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CfError(f"{method} {path}: the cloud controller answered {response.status_code} "
                          f"with something that is not JSON") from None

    # -- auth -----------------------------------------------------------------------------

    def info(self) -> dict:
        return self.request("GET", "/v2/info")

    def token(self, user: str, password: str) -> dict:
        return self.request("POST", "/oauth/token", data={"grant_type": "password", "username": user,
                                                           "password": password})

    # -- apps -----------------------------------------------------------------------------

    def apps(self, space_guid: str | None = None) -> list[dict]:
        params = {"q": f"space_guid:{space_guid}"} if space_guid else None
        return self.request("GET", "/v2/apps", params=params)["resources"]

    def find_app(self, name: str) -> dict | None:
        """The app NAME of the targeted space (of any space the user sees, untargeted)."""
        q = [f"name:{name}"] + ([f"space_guid:{self.space_guid}"] if self.space_guid else [])
        found = self.request("GET", "/v2/apps", params={"q": q})["resources"]
        return found[0] if found else None

    def app(self, name: str) -> dict:
        found = self.find_app(name)
        if found is None:
            raise CfError(f"App {name} not found")
        return found

    def get_app(self, guid: str) -> dict:
        return self.request("GET", f"/v2/apps/{guid}")

    def create_app(self, body: dict) -> dict:
        return self.request("POST", "/v2/apps", json=body)

    def update_app(self, guid: str, body: dict) -> dict:
        return self.request("PUT", f"/v2/apps/{guid}", json=body)

    def delete_app(self, guid: str) -> None:
        self.request("DELETE", f"/v2/apps/{guid}")

    def upload_bits(self, guid: str, data: bytes) -> dict:
        return self.request("PUT", f"/v2/apps/{guid}/bits", files={"application": ("application.zip", data,
                                                                                    "application/zip")},
                            data={"resources": "[]"}, timeout=600)

    def instances(self, guid: str) -> dict:
        return self.request("GET", f"/v2/apps/{guid}/instances")

    def stats(self, guid: str) -> dict:
        return self.request("GET", f"/v2/apps/{guid}/stats")

    def crashes(self, guid: str) -> list[dict]:
        return self.request("GET", f"/v2/apps/{guid}/crashes")

    def logs(self, guid: str) -> list[dict]:
        return self.request("GET", f"/v2/apps/{guid}/logs")["instances"]

    def staging_log(self, guid: str) -> dict:
        return self.request("GET", f"/v2/apps/{guid}/staging_log")

    # -- orgs, spaces, users and roles ----------------------------------------------------

    def orgs(self) -> list[dict]:
        return self.request("GET", "/v2/organizations")["resources"]

    def org(self, name: str) -> dict:
        found = self.request("GET", "/v2/organizations", params={"q": f"name:{name}"})["resources"]
        if not found:
            raise CfError(f"Organization {name} not found (or not visible to you)")
        return found[0]

    def create_org(self, name: str) -> dict:
        return self.request("POST", "/v2/organizations", json={"name": name})

    def spaces(self, org_guid: str) -> list[dict]:
        return self.request("GET", f"/v2/organizations/{org_guid}/spaces")["resources"]

    def space(self, org: dict, name: str) -> dict:
        found = [s for s in self.spaces(org["metadata"]["guid"]) if s["entity"]["name"] == name]
        if not found:
            raise CfError(f"Space {name} not found in organization {org['entity']['name']} (or not visible to you)")
        return found[0]

    def create_space(self, name: str, org_guid: str) -> dict:
        return self.request("POST", "/v2/spaces", json={"name": name, "organization_guid": org_guid})

    def delete_org(self, guid: str) -> None:
        """Everything in it too (``recursive=true``, as the cf CLI sends); slow brokers take time."""
        self.request("DELETE", f"/v2/organizations/{guid}", params={"recursive": "true"}, timeout=600)

    def delete_space(self, guid: str) -> None:
        self.request("DELETE", f"/v2/spaces/{guid}", params={"recursive": "true"}, timeout=600)

    def create_user(self, guid: str, username: str) -> dict:
        return self.request("POST", "/v2/users", json={"guid": guid, "username": username})

    def give_role(self, kind: str, guid: str, role_path: str, username: str) -> dict:
        """``kind``: organizations or spaces; ``role_path``: managers, developers, auditors..."""
        return self.request("PUT", f"/v2/{kind}/{guid}/{role_path}", json={"username": username})

    # -- routes ---------------------------------------------------------------------------

    def shared_domain(self) -> dict:
        domains = self.request("GET", "/v2/shared_domains")["resources"]
        if not domains:
            raise CfError("The cloud controller has no shared domain")
        return domains[0]

    def find_route(self, host: str) -> dict | None:
        found = self.request("GET", "/v2/routes", params={"q": f"host:{host}"})["resources"]
        return found[0] if found else None

    def create_route(self, host: str, domain_guid: str) -> dict:
        return self.request("POST", "/v2/routes", json={"host": host, "domain_guid": domain_guid})

    def bind_route(self, app_guid: str, route_guid: str) -> dict:
        return self.request("PUT", f"/v2/apps/{app_guid}/routes/{route_guid}")


def api_error(response: httpx.Response) -> CfError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    description = body.get("description") or body.get("error_description") or response.text.strip() \
        or response.reason_phrase
    code = body.get("error_code")
    if response.status_code == 401 and response.request.url.path.startswith("/v2"):
        return CfError(f"Not logged in, or the token expired ({description}): run `cf-py login`")
    return CfError(f"{description}" + (f" ({code})" if code else "") + f" [HTTP {response.status_code}]")
