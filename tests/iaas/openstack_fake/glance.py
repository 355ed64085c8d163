"""Glance (image v2): list and show images. Images are seeded (``Cloud.add_image``); a light stemcell
names an image that already exists, so uploads are not emulated."""

from __future__ import annotations

from aiohttp import web

from .bodies import reply
from .cloud import Cloud
from .errors import not_found


def routes(cloud: Cloud) -> list[web.RouteDef]:
    async def list_images(request: web.Request) -> web.Response:
        images = list(cloud.images.values())
        for name in ("name", "status", "visibility"):
            if name in request.query:
                images = [image for image in images if str(image.get(name)) == request.query[name]]
        return reply({"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"})

    async def show_image(request: web.Request) -> web.Response:
        image_id = request.match_info["id"]
        if image_id not in cloud.images:
            raise not_found(f"No image found with ID {image_id}")
        return reply(cloud.images[image_id])

    return [web.get("/image/v2/images", list_images), web.get("/image/v2/images/{id}", show_image)]
