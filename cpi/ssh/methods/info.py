"""info: the stemcell formats this CPI takes (from its config: the machines run their own OS)."""

from cpi.ssh.context import Context


def run(ctx: Context) -> dict:
    return {"stemcell_formats": list(ctx.config.stemcell_formats), "api_version": 2}
