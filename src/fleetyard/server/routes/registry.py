"""The registry's objects: LIST, GET (with one byte range), HEAD, PUT (create-only), DELETE."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from fleetyard.server.body import stream_body
from fleetyard.server.deps import ObjectReaderDep, StateDep, WriterDep
from fleetyard.server.openapi import BINARY, errors
from fleetyard.services.objects import kind_of_key
from fleetyard.services.storable import NUL_FREE
from fleetyard.services.wire import ObjectOut

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
OCTETS = "application/octet-stream"
# The registry layout's characters, segments a file system can name, and what the
# audit log's target column holds; services/objects.py checks the layout itself.
KEY_PATTERN = r"^[A-Za-z0-9._@+-]{1,255}(/[A-Za-z0-9._@+-]{1,255})*$"
Key = Annotated[str, Path(pattern=KEY_PATTERN, max_length=512, description="An object key, e.g. packs/ab/ab12.pack")]
RANGE_HEADERS = {"Content-Range": {"description": "`bytes START-END/SIZE`", "schema": {"type": "string"},
                                   "required": True}}


@router.get("/objects", response_model=list[ObjectOut], responses=errors(422))
def list_objects(state: StateDep, _principal: ObjectReaderDep,
                 prefix: Annotated[str, Query(pattern=NUL_FREE, max_length=512)] = "") -> list[ObjectOut]:
    """Objects whose key starts with `prefix`."""
    return state.objects.list(prefix)


@router.get("/objects/{key:path}", response_class=StreamingResponse,
            responses={200: {"content": BINARY, "description": "The object's bytes."},
                       206: {"content": BINARY, "description": "The requested range.", "headers": RANGE_HEADERS},
                       **errors(404, 416, 422)})
def get_object(key: Key, state: StateDep, _principal: ObjectReaderDep,
               range_: Annotated[str | None, Header(alias="Range")] = None) -> StreamingResponse:
    """The object's bytes, or one range of them (`Range: bytes=a-b`): 206, or 416 past the end."""
    f, size, rng = state.objects.open(key, range_)
    counter = state.metrics.bytes_served.labels(kind_of_key(key))
    headers = {"Accept-Ranges": "bytes"}
    if rng is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(state.objects.stream(f, size, counter.inc), media_type=OCTETS, headers=headers)
    headers["Content-Length"] = str(rng.length)
    headers["Content-Range"] = f"bytes {rng.start}-{rng.end}/{size}"
    return StreamingResponse(state.objects.stream(f, rng.length, counter.inc), status_code=206,
                             media_type=OCTETS, headers=headers)


@router.head("/objects/{key:path}", response_class=Response,
             responses={200: {"description": "The object exists; `Content-Length` is its size."},
                        **errors(404, 422)})
def head_object(key: Key, state: StateDep, _principal: ObjectReaderDep) -> Response:
    """200 with the object's Content-Length, or 404."""
    size = state.objects.size(key)
    return Response(status_code=200, media_type=OCTETS,
                    headers={"Content-Length": str(size), "Accept-Ranges": "bytes"})


@router.put("/objects/{key:path}", status_code=201, response_class=Response,
            responses={201: {"description": "Created."}, 204: {"description": "Replaced."},
                       **errors(404, 412, 413, 422, 428)},
            openapi_extra={"requestBody": {"required": True, "content": BINARY}})
async def put_object(key: Key, request: Request, state: StateDep, principal: WriterDep,
                     if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """Store the body as the object (atomically): 201 created, 204 replaced; with
    `If-None-Match: *` only if absent (412 otherwise). Version manifests need it (428).
    The body streams to a staging file, up to the registry object limit (413)."""
    create_only = (if_none_match or "").strip() == "*"
    state.objects.check_put(key, principal, create_only)
    fd, staged = state.objects.staging_file()
    try:
        with os.fdopen(fd, "wb") as f:
            await stream_body(request, state.limits.objects, f)
        created = await run_in_threadpool(state.objects.finish_put, key, staged, principal, create_only)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
    return Response(status_code=201 if created else 204)


@router.delete("/objects/{key:path}", status_code=204, response_class=Response,
               responses={204: {"description": "Deleted, or was absent."}, **errors(404, 422)})
def delete_object(key: Key, state: StateDep, principal: WriterDep) -> Response:
    """Remove an object (operator+; admin for version manifests); absent is fine."""
    state.objects.delete(key, principal)
    return Response(status_code=204)
