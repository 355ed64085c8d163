"""info: what this CPI accepts; needs no IaaS call, so it works before credentials do."""

from __future__ import annotations

from cpi.libcloud.context import Context
from cpi.libcloud.provider import provider_class


def run(ctx: Context) -> dict:
    formats = list(provider_class(ctx.config.provider).stemcell_formats)
    return {"stemcell_formats": formats, "api_version": 2}
