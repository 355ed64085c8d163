"""Sizes as users type them (``128M``, ``1G``, ``512``) to megabytes, as the v2 API wants."""

from __future__ import annotations

import re

from .errors import CfError

_SIZE = re.compile(r"^\s*(\d+)\s*([MmGg][Bb]?)?\s*$")


def megabytes(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise CfError(f"Invalid memory {text!r}: use a number of megabytes such as 128M or 1G")
    value = int(match.group(1))
    unit = (match.group(2) or "M")[0].upper()
    mb = value * 1024 if unit == "G" else value
    if mb <= 0:
        raise CfError(f"Invalid memory {text!r}: must be more than 0")
    return mb


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if abs(n) < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}G"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
