"""info: what this CPI accepts (the director checks stemcell formats on upload)."""

from cpi.local.context import Context


def run(ctx: Context) -> dict:
    return {"stemcell_formats": ["local-rootfs"], "api_version": 2}
