"""delete_stemcell: a light stemcell's image belongs to the operator, so nothing is deleted."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, stemcell_cid: str) -> None:
    ctx.provider.delete_stemcell(stemcell_cid)
