"""HTTP face of the blobstore for agents: GET/PUT/HEAD/DELETE /blobs/<id> with basic auth.

It listens on its own port, apart from the operator API, because agents get blobstore
credentials only, never the director's.
"""

from __future__ import annotations

import asyncio
import io

from aiohttp import web

from bosh_py.director.auth import basic_auth_middleware
from bosh_py.director.blobstore import LocalBlobstore, valid_blob_id


def blobstore_app(store: LocalBlobstore, user: str, password: str) -> web.Application:
    app = web.Application(middlewares=[basic_auth_middleware(user, password)], client_max_size=0)

    def blob_id_of(request: web.Request) -> str:
        blob_id = request.match_info["blob_id"]
        if not valid_blob_id(blob_id):
            raise web.HTTPBadRequest(text=f"invalid blob id '{blob_id}'\n")
        return blob_id

    async def get(request: web.Request) -> web.StreamResponse:
        blob_id = blob_id_of(request)
        if not store.exists(blob_id):
            raise web.HTTPNotFound()
        return web.FileResponse(store.path(blob_id))

    async def put(request: web.Request) -> web.Response:
        blob_id = blob_id_of(request)
        data = await request.read()
        _, digest = await asyncio.to_thread(store.put_stream, io.BytesIO(data), blob_id)
        return web.json_response({"blobstore_id": blob_id, "sha1": digest}, status=201)

    async def delete(request: web.Request) -> web.Response:
        await asyncio.to_thread(store.delete, blob_id_of(request))
        return web.Response(status=204)

    app.router.add_get("/blobs/{blob_id}", get)
    app.router.add_put("/blobs/{blob_id}", put)
    app.router.add_delete("/blobs/{blob_id}", delete)
    return app
