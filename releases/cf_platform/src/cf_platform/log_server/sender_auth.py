"""Who may post lines: basic auth against ``senders``, both parts compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from .config import Sender


def sender_for(header: str | None, senders: dict[str, Sender]) -> tuple[str, Sender] | None:
    """The (user, sender) the ``Authorization`` header proves, or None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not sep:
        return None
    found = None
    for name, sender in senders.items():   # every entry compared: no timing hint of which users exist
        same_user = hmac.compare_digest(name.encode(), user.encode())
        same_password = hmac.compare_digest(sender.password.encode(), password.encode())
        if same_user and same_password:
            found = (name, sender)
    return found
