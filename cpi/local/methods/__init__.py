"""One module per CPI method, each exposing ``run(ctx, *arguments)``, found by name."""

from __future__ import annotations

from types import ModuleType

from cpi.protocol import find_method


def method_module(name: str) -> ModuleType | None:
    """The module implementing ``name``, or None for a method this CPI does not have."""
    return find_method(__name__, name)
