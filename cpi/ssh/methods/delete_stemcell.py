"""delete_stemcell(stemcell_cid): forget the record (an unknown cid is already gone)."""

from cpi.ssh.context import Context
from cpi.ssh.state import locked_state


def run(ctx: Context, stemcell_cid: str) -> None:
    with locked_state(ctx.config.state_dir) as state:
        state.stemcells.pop(stemcell_cid, None)
