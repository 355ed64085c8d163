"""Password and client-secret hashes: stdlib scrypt, salted, stored as one string.

Format ``scrypt$N$r$p$<salt b64>$<hash b64>``. :func:`verify` against no hash still spends one
scrypt computation, so a wrong user name costs as long as a wrong password (no user
enumeration by timing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P, DKLEN = 2 ** 14, 8, 1, 32
_DUMMY = None  # a hash of a random password, made once, for unknown users


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=DKLEN,
                          maxmem=128 * r * n * 2)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, N, R, P)
    return "$".join(["scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def verify(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; ``stored=None`` (no such user) is False, in the
    same time."""
    global _DUMMY
    if stored is None:
        if _DUMMY is None:
            _DUMMY = hash_password(secrets.token_hex(16))
        verify(password, _DUMMY)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)
