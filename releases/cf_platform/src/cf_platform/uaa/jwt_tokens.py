"""RS256 JSON Web Tokens: sign, verify, and the public key as a JWK.

The RSA work is ``cryptography``'s (Debian's python3-cryptography on the VMs); this module
only frames it as RFC 7515/7517. Verification accepts exactly ``alg: RS256`` with a known
``kid``: a token saying ``none`` or ``HS256`` (the classic key-confusion attack, an HMAC keyed
with the public key) is refused before any signature is looked at.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class TokenInvalid(Exception):
    """A token that must not be trusted (str: why, for the error description)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    if not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    """The UAA's RSA key and its id (``kid``), loaded from the PEM of a BOSH rsa variable."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def from_pem(cls, kid: str, pem: str) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as e:
            raise ValueError(f"jwt signing key {kid!r} is not a PEM private key: {e}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"jwt signing key {kid!r} is not an RSA key")
        if key.key_size < 2048:
            raise ValueError(f"jwt signing key {kid!r} has {key.key_size} bits; at least 2048 are needed")
        return cls(kid, key)

    def public_jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": _int_b64(numbers.n), "e": _int_b64(numbers.e), "value": pem}

    def encode(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def decode(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a token this key signed and that has not expired."""
        header, claims, signature, signed = split_jwt(token)
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenInvalid("The token is not a JWT")
        if header.get("alg") != "RS256":
            raise TokenInvalid("The token's algorithm is not RS256")
        if header.get("kid") != self.kid:
            raise TokenInvalid("The token was signed with an unknown key")
        verify_rs256(self.private_key.public_key(), signature, signed)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise TokenInvalid("The token has no expiry")
        if exp <= (time.time() if now is None else now):
            raise TokenInvalid("The token has expired")
        return claims


def split_jwt(token: str) -> tuple[Any, Any, bytes, bytes]:
    """A compact JWT's decoded header, claims and signature, and the bytes the signature
    covers; TokenInvalid when it is not one. Nothing is trusted yet."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalid("The token is not a JWT")
    try:
        header = json.loads(unb64url(parts[0]))
        claims = json.loads(unb64url(parts[1]))
        signature = unb64url(parts[2])
    except (ValueError, binascii.Error):
        raise TokenInvalid("The token is not a JWT") from None
    return header, claims, signature, (parts[0] + "." + parts[1]).encode()


def verify_rs256(public_key: rsa.RSAPublicKey, signature: bytes, signed: bytes) -> None:
    try:
        public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise TokenInvalid("The token's signature does not verify") from None
