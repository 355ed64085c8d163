"""delete_stemcell(cid): forget it (deleting an unknown one is not an error, as in BOSH)."""

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state


def run(ctx: Context, cid: str) -> None:
    raise_injected(ctx.config, "delete_stemcell")
    with locked_state(ctx.config) as state:
        state["stemcells"].pop(str(cid), None)
