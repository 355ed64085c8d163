"""The OAuth2 endpoints: /oauth/token, /token_keys, /check_token, /userinfo, /info."""

from __future__ import annotations

from . import errors
from .tokens import TokenService
from .varz import GrantCounts
from .web import Request, Response, Router


class OAuthApi:
    def __init__(self, tokens: TokenService, grants: GrantCounts | None = None) -> None:
        self.tokens = tokens
        self.grants = grants or GrantCounts()   # /varz: token grants issued and refused

    def register(self, router: Router) -> None:
        router.add("POST", "/oauth/token", self.token)
        router.add("GET", "/token_keys", self.token_keys)
        router.add("GET", "/token_key", self.token_key)
        router.add("POST", "/check_token", self.check_token)
        router.add("GET", "/userinfo", self.userinfo)
        router.add("GET", "/info", self.info)
        router.add("GET", "/healthz", lambda _r: Response(200, {"status": "ok"}))

    def _client(self, request: Request, form: dict[str, str]):
        """HTTP basic first; a form's client_id (and client_secret) as UAA also accepts."""
        creds = request.basic_auth()
        if creds is None:
            if "client_id" not in form:
                raise errors.bad_client()
            creds = (form["client_id"], form.get("client_secret", ""))
        return self.tokens.authenticate_client(*creds)

    def token(self, request: Request) -> Response:
        grant_type = ""
        try:
            form = request.form()
            grant_type = form.get("grant_type", "")
            client = self._client(request, form)
            body = self.tokens.grant(client, form)
        except errors.OAuthError:
            self.grants.record(grant_type, issued=False)
            raise
        self.grants.record(grant_type, issued=True)
        return Response(200, body)

    def token_keys(self, _request: Request) -> Response:
        return Response(200, {"keys": [self.tokens.key.public_jwk()]})

    def token_key(self, _request: Request) -> Response:
        return Response(200, self.tokens.key.public_jwk())

    def check_token(self, request: Request) -> Response:
        """Resource servers ask whether a token is good; they authenticate as a client holding
        the ``uaa.resource`` authority. A bad token is 400 invalid_token, as UAA answers."""
        form = request.form()
        creds = request.basic_auth()
        if creds is None:
            raise errors.bad_client()
        client = self.tokens.authenticate_client(*creds)
        if "uaa.resource" not in client.config.authorities:
            raise errors.OAuthError(403, "access_denied", "Client needs the uaa.resource authority")
        token = form.get("token", "")
        if not token:
            raise errors.invalid_request("Missing token")
        try:
            claims = self.tokens.verify_access(token)
        except errors.OAuthError as e:
            raise errors.OAuthError(400, "invalid_token", e.description) from None
        return Response(200, {**claims, "active": True})

    def userinfo(self, request: Request) -> Response:
        claims = self.tokens.verify_access(request.bearer())
        if "openid" not in claims.get("scope", []) or "user_id" not in claims:
            raise errors.insufficient_scope("openid")
        user = self.tokens.store.user_by_id(claims["user_id"])
        assert user is not None  # verify_access checked it
        return Response(200, {"user_id": user.id, "sub": user.id, "user_name": user.user_name,
                              "email": user.email, "email_verified": True,
                              "previous_logon_time": None})

    def info(self, _request: Request) -> Response:
        return Response(200, {"app": {"version": "cf-py"}, "zone_name": "uaa",
                              "links": {"uaa": self.tokens.issuer, "login": self.tokens.issuer},
                              "token_endpoint": self.tokens.token_endpoint})
