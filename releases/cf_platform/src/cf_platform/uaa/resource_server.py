"""What a resource server (the cloud controller, later the director) uses to trust UAA tokens
without a shared secret: the UAA's public keys from ``GET /token_keys``, cached by ``kid``
and fetched again when a token names a kid not seen yet (key rotation), RS256 only, expiry
and issuer checked locally. Needs ``cryptography`` (releases/uaa's python3-cryptography
package on a VM).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from .jwt_tokens import TokenInvalid, split_jwt, unb64url, verify_rs256


def public_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    def number(name: str) -> int:
        return int.from_bytes(unb64url(str(jwk[name])), "big")
    return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()


class UaaTokenVerifier:
    def __init__(self, uaa_url: str, timeout: float = 5.0, refetch_interval: float = 30.0) -> None:
        """``refetch_interval``: at most one /token_keys fetch per interval, so tokens naming
        made-up kids cannot make this server hammer the UAA."""
        self.refetch_interval = refetch_interval
        self.uaa_url = uaa_url.rstrip("/")
        self.issuer = f"{self.uaa_url}/oauth/token"
        self.timeout = timeout
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh_keys(self) -> None:
        with self._lock:
            if time.monotonic() - self._fetched_at < self.refetch_interval:
                return
            try:
                with urllib.request.urlopen(f"{self.uaa_url}/token_keys", timeout=self.timeout) as response:
                    keys = json.load(response)["keys"]
            except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
                raise TokenInvalid(f"cannot fetch the UAA's token keys from {self.uaa_url}: {e}") from None
            self._keys = {k["kid"]: public_key_from_jwk(k) for k in keys
                          if k.get("kty") == "RSA" and k.get("alg", "RS256") == "RS256" and "kid" in k}
            self._fetched_at = time.monotonic()

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid, unexpired RS256 token of this UAA; TokenInvalid otherwise."""
        header, claims, signature, signed = split_jwt(token)
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
            raise TokenInvalid("The token's algorithm is not RS256")
        kid = header.get("kid")
        if kid not in self._keys:
            self._refresh_keys()
        key = self._keys.get(kid)
        if key is None:
            raise TokenInvalid("The token was signed with an unknown key")
        verify_rs256(key, signature, signed)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp <= (time.time() if now is None else now):
            raise TokenInvalid("The token has expired")
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("The token was issued by another UAA")
        if str(claims.get("jti", "")).endswith("-r"):
            raise TokenInvalid("A refresh token is not an access token")
        return claims
