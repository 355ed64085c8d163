"""create_stemcell(image_path, cloud_properties): record the image's size; nothing is copied."""

import os
from typing import Any

from cpi.dummy.context import Context
from cpi.dummy.failures import raise_injected
from cpi.dummy.store import locked_state, new_cid
from cpi.protocol import CloudError


def run(ctx: Context, image_path: str, cloud_properties: Any = None) -> str:
    raise_injected(ctx.config, "create_stemcell")
    try:
        size = os.stat(image_path).st_size
    except OSError as error:
        raise CloudError(f"create_stemcell: cannot read image {image_path}: {error.strerror}") from None
    cid = new_cid("stemcell")
    with locked_state(ctx.config) as state:
        state["stemcells"][cid] = {"size": size, "cloud_properties": cloud_properties or {}}
    return cid
