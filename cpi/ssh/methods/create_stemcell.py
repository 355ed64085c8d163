"""create_stemcell(image_path, cloud_properties): only recorded. The machines keep the OS they
have; the stemcell's name and version still decide which compiled packages they get, so
upload one whose operating system matches the machines'."""

from __future__ import annotations

import time
from pathlib import Path

from cpi.ssh.context import Context
from cpi.ssh.state import locked_state, new_id


def run(ctx: Context, image_path: str, cloud_properties: dict | None = None) -> str:
    cid = new_id("sc")
    with locked_state(ctx.config.state_dir) as state:
        state.stemcells[cid] = {"image": Path(str(image_path)).name, "cloud_properties": cloud_properties or {},
                                "created_at": time.time()}
    ctx.log(f"stemcell {cid} recorded (the machines keep their own OS)")
    return cid
