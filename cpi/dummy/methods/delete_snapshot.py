"""delete_snapshot: not something the dummy does (the director handles NotImplemented)."""

from typing import Any

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.protocol import NotImplementedFailure


def run(ctx: Context, *arguments: Any) -> None:
    raise_injected(ctx.config, "delete_snapshot")
    raise NotImplementedFailure("the dummy CPI does not implement delete_snapshot")
