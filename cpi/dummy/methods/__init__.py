"""One module per CPI method, each exposing ``run(ctx, *arguments)``, found by name.
``bootstrap_agent`` is the dummy's own: the director hands it the agent settings (it has no
sshd to install an agent through)."""

from __future__ import annotations

from types import ModuleType

from cpi.protocol import find_method

EXTRA = ("bootstrap_agent",)


def method_module(name: str) -> ModuleType | None:
    return find_method(__name__, name, EXTRA)
