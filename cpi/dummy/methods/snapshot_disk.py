"""snapshot_disk: not something the dummy does (the director handles NotImplemented)."""

from typing import Any

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.protocol import NotImplementedFailure


def run(ctx: Context, *arguments: Any) -> None:
    raise_injected(ctx.config, "snapshot_disk")
    raise NotImplementedFailure("the dummy CPI does not implement snapshot_disk")
