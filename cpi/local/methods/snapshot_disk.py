"""snapshot_disk: the local CPI has no snapshots."""

from cpi.local.context import Context
from cpi.local.errors import NotImplementedFailure


def run(ctx: Context, *arguments: object) -> None:
    raise NotImplementedFailure("snapshot_disk is not supported by the local CPI")
