"""info: the stemcell formats the dummy takes (any tarball will do)."""

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected

FORMATS = ["dummy", "local-rootfs"]


def run(ctx: Context) -> dict:
    raise_injected(ctx.config, "info")
    return {"stemcell_formats": FORMATS, "api_version": 2}
