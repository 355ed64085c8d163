"""set_vm_metadata(vm_cid, metadata): the metadata become the instance's tags."""

from __future__ import annotations

from typing import Any

from cpi.libcloud.context import Context
from cpi.libcloud.errors import InvalidCall


def run(ctx: Context, vm_cid: str, metadata: dict[str, Any]) -> None:
    if not isinstance(metadata, dict):
        raise InvalidCall("set_vm_metadata: metadata must be an object")
    ctx.provider.set_vm_metadata(vm_cid, {str(k): str(v) for k, v in metadata.items()})
