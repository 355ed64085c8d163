"""snapshot_disk: refused: a disk here is a directory on a machine, with no size to change and no
snapshots."""

from typing import Any

from cpi.protocol import NotImplementedFailure
from cpi.ssh.context import Context


def run(ctx: Context, *arguments: Any) -> None:
    raise NotImplementedFailure("snapshot_disk: the ssh CPI's disks are directories on the machines; not supported")
