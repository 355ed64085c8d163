"""A SCRAM-SHA-256 verifier for a password, as PostgreSQL stores it (RFC 7677).

The broker sends ``CREATE ROLE ... PASSWORD '<verifier>'``, never the password itself, so
the cleartext cannot end up in PostgreSQL's log (a failed statement is logged in full).
Passwords here are generated ASCII, for which SASLprep changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 4096


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda data: base64.b64encode(data).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
