"""create_stemcell(image_path, cloud_properties): a light stemcell names an existing image.

The tarball carries no image; its cloud_properties say which one (AWS: an AMI per region)."""

from __future__ import annotations

from cpi.libcloud.context import Context


def run(ctx: Context, image_path: str, cloud_properties: dict | None = None) -> str:
    return ctx.provider.create_stemcell(dict(cloud_properties or {}))
