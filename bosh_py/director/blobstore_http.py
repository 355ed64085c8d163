"""HTTP face of the blobstore for agents: GET/HEAD/PUT /blobs/<id>, each agent with its own
basic-auth login (``agent_credentials.py``) and only what ``BlobGrants`` allows it.

It listens on its own port, apart from the operator API, because agents get blobstore
credentials only, never the director's. Answers: 401 bad login, 403 not granted (every
DELETE, a read of a blob not in the agent's spec or compile task, a write of an id it was
not handed or a second write), 413 a body past the size limit, 409 an id that already
exists. Bodies stream to a temporary file and are never held whole in memory.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from aiohttp import web

from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.auth import Handler, parse_basic_auth, unauthorized
from bosh_py.director.blob_grants import BlobGrants
from bosh_py.director.blobstore import CHUNK, BlobNotFound, Blobstore, BlobTooLarge, BlobWriter, valid_blob_id

AGENT_ID = web.RequestKey("agent_id", str)


def agent_auth_middleware(credentials: AgentCredentials):  # type: ignore[no-untyped-def]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = parse_basic_auth(request.headers.get("Authorization"))
        agent_id = credentials.authenticate(*given) if given else None
        if agent_id is None:
            raise unauthorized()
        request[AGENT_ID] = agent_id
        return await handler(request)

    return middleware


def _forbidden(text: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=text + "\n")


def blobstore_app(store: Blobstore, grants: BlobGrants, credentials: AgentCredentials) -> web.Application:
    app = web.Application(middlewares=[agent_auth_middleware(credentials)], client_max_size=CHUNK)

    def blob_id_of(request: web.Request) -> str:
        blob_id = request.match_info["blob_id"]
        if not valid_blob_id(blob_id):
            raise web.HTTPBadRequest(text=f"invalid blob id '{blob_id}'\n")
        return blob_id

    async def get(request: web.Request) -> web.StreamResponse:
        blob_id = blob_id_of(request)
        if not grants.may_read(request[AGENT_ID], blob_id):
            raise _forbidden(f"agent {request[AGENT_ID]} may not read blob {blob_id}")
        try:  # off the loop: an S3 store may download into its cache first
            path = await asyncio.to_thread(store.get_path, blob_id)
        except BlobNotFound:
            raise web.HTTPNotFound() from None
        return web.FileResponse(path)

    async def put(request: web.Request) -> web.Response:
        blob_id = blob_id_of(request)
        agent_id = request[AGENT_ID]
        limit = grants.claim_upload(agent_id, blob_id)
        if limit is None:
            raise _forbidden(f"agent {agent_id} may not write blob {blob_id}")
        if await asyncio.to_thread(store.exists, blob_id):
            raise web.HTTPConflict(text=f"blob {blob_id} already exists\n")
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(blob_id, limit)
        writer = await asyncio.to_thread(store.writer, blob_id, limit)
        try:
            digest = await _receive(request, writer)
        except BlobTooLarge:
            raise _too_large(blob_id, limit) from None
        return web.json_response({"blobstore_id": blob_id, "sha1": digest}, status=201)

    async def delete(request: web.Request) -> web.Response:
        raise _forbidden(f"agents may not delete blobs ({blob_id_of(request)})")

    app.router.add_get("/blobs/{blob_id}", get)
    app.router.add_put("/blobs/{blob_id}", put)
    app.router.add_delete("/blobs/{blob_id}", delete)
    return app


async def _receive(request: web.Request, writer: BlobWriter) -> str:
    """Stream the body into ``writer`` chunk by chunk; commit, or abort on any failure."""
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            writer.write(chunk)  # page-cache writes of at most CHUNK bytes: fine on the loop
        return await asyncio.to_thread(writer.commit)
    except BaseException:
        with suppress(OSError):
            writer.abort()
        raise


def _too_large(blob_id: str, limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=0,
                                         text=f"blob {blob_id} exceeds the limit of {limit} bytes\n")
